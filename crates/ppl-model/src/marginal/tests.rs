//! Tests of the marginalisation analysis, the summed tape and recovery.
use super::*;
