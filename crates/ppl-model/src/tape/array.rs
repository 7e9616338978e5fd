//! A small row-major n-dimensional array, generic over the scalar type, and the NumPy broadcasting
//! rules (trailing axes aligned, an axis of length 1 or a missing axis stretches) shared by the
//! generic evaluator and the tape.

/// Row-major values with their shape; an empty shape is a scalar (one value).
#[derive(Clone, Debug, PartialEq)]
pub struct Array<T> {
    pub shape: Vec<usize>,
    pub values: Vec<T>,
}

impl<T> Array<T> {
    pub fn new(shape: Vec<usize>, values: Vec<T>) -> Array<T> {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Array { shape, values }
    }

    pub fn scalar(value: T) -> Array<T> {
        Array {
            shape: Vec::new(),
            values: vec![value],
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> Array<U> {
        Array {
            shape: self.shape.clone(),
            values: self.values.iter().map(f).collect(),
        }
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    strides
}

/// The NumPy broadcast of two shapes, or `None` when an axis pair is neither equal nor 1.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (axis, slot) in out.iter_mut().enumerate() {
        let from_end = rank - axis;
        let x = if from_end <= a.len() {
            a[a.len() - from_end]
        } else {
            1
        };
        let y = if from_end <= b.len() {
            b[b.len() - from_end]
        } else {
            1
        };
        *slot = match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// How an operand of some shape is read when broadcast to an output shape: element `i` of the
/// output reads element `at(i)` of the operand. Identity and scalar reads need no table.
#[derive(Clone, Debug, PartialEq)]
pub enum BroadcastPlan {
    Identity,
    Scalar,
    Table(Vec<usize>),
}

impl BroadcastPlan {
    /// The plan for reading `from` as `to`; `to` must be a broadcast of `from`.
    pub fn new(from: &[usize], to: &[usize]) -> BroadcastPlan {
        if from == to {
            return BroadcastPlan::Identity;
        }
        if from.iter().product::<usize>() == 1 {
            return BroadcastPlan::Scalar;
        }
        BroadcastPlan::Table(broadcast_table(from, to))
    }

    #[inline(always)]
    pub fn at(&self, i: usize) -> usize {
        match self {
            BroadcastPlan::Identity => i,
            BroadcastPlan::Scalar => 0,
            BroadcastPlan::Table(table) => table[i],
        }
    }
}

/// For each element of shape `to`, the flat index of the element of shape `from` it reads.
pub fn broadcast_table(from: &[usize], to: &[usize]) -> Vec<usize> {
    let total: usize = to.iter().product();
    let from_strides = strides(from);
    let offset = to.len() - from.len();
    // Stride of each output axis in the operand: 0 where the operand is missing or stretched.
    let read_strides: Vec<usize> = (0..to.len())
        .map(|axis| {
            if axis < offset || from[axis - offset] == 1 {
                0
            } else {
                from_strides[axis - offset]
            }
        })
        .collect();
    let mut table = Vec::with_capacity(total);
    let mut counter = vec![0usize; to.len()];
    let mut position = 0usize;
    for _ in 0..total {
        table.push(position);
        for axis in (0..to.len()).rev() {
            counter[axis] += 1;
            position += read_strides[axis];
            if counter[axis] < to[axis] {
                break;
            }
            position -= read_strides[axis] * counter[axis];
            counter[axis] = 0;
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shapes(&[], &[2, 2]), Some(vec![2, 2]));
        assert_eq!(broadcast_shapes(&[3], &[4]), None);
        assert_eq!(broadcast_table(&[3, 1], &[3, 2]), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(broadcast_table(&[2], &[3, 2]), vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
