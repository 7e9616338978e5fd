//! Element names in Stan's display form (`beta[1]`, `theta[1,2]`; scalars by their name) and
//! CmdStan's CSV column form (`theta.1.2`).

/// Display names of every element of an array of `shape` (row-major), `count` elements in all:
/// `theta[1,2]`.
pub fn element_names(name: &str, count: usize, shape: &[usize]) -> Vec<String> {
    names(name, count, shape, |parts| {
        format!("{name}[{}]", parts.join(","))
    })
}

/// CmdStan column names (`theta.1.2`) for the same elements.
pub fn column_names(name: &str, shape: &[usize]) -> Vec<String> {
    let count = shape.iter().product();
    names(name, count, shape, |parts| {
        format!("{name}.{}", parts.join("."))
    })
}

fn names(
    name: &str,
    count: usize,
    shape: &[usize],
    render: impl Fn(&[String]) -> String,
) -> Vec<String> {
    if shape.is_empty() {
        return vec![name.to_string()];
    }
    (0..count)
        .map(|flat| {
            let parts: Vec<String> = unravel(flat, shape)
                .iter()
                .map(|i| (i + 1).to_string())
                .collect();
            render(&parts)
        })
        .collect()
}

/// The 0-based multi-index of a row-major flat index.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        let size = shape[axis].max(1);
        index[axis] = flat % size;
        flat /= size;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_stan() {
        assert_eq!(element_names("sigma", 1, &[]), vec!["sigma"]);
        assert_eq!(element_names("theta", 4, &[2, 2])[1], "theta[1,2]");
        assert_eq!(column_names("theta", &[2, 2])[2], "theta.2.1");
    }
}
