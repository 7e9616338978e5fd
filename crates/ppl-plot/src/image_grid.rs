//! A grid of small grayscale images (generated or reconstructed digits), for `ppl sample`:
//! each image's values are pixel intensities, drawn dark on white, each pixel a square block.

use std::path::Path;

use crate::error::PlotError;
use crate::figure::encode_png;

/// Screen pixels per image pixel.
const BLOCK: usize = 6;
/// White space between images.
const GAP: usize = 4;

/// Draws `images` (each `height × width` values, row-major) in a grid of `columns` images per
/// row into the PNG file `path`. Values are scaled to the range of all images together, or
/// taken as they are when they lie in [0, 1] (probabilities, binary pixels). Returns the
/// picture's width and height.
pub fn image_grid(
    images: &[Vec<f64>],
    (height, width): (usize, usize),
    columns: usize,
    path: &Path,
) -> Result<(u32, u32), PlotError> {
    if path.extension().and_then(|e| e.to_str()) != Some("png") {
        return Err(PlotError::OutputFormat {
            path: path.to_path_buf(),
        });
    }
    if images.is_empty() || columns == 0 || height == 0 || width == 0 {
        return Err(PlotError::InputMissing {
            message: "no images to draw".into(),
        });
    }
    if let Some(bad) = images.iter().find(|image| image.len() != height * width) {
        return Err(PlotError::InputMissing {
            message: format!("an image has {} values, not {height} × {width}", bad.len()),
        });
    }
    let finite = images.iter().flatten().copied().filter(|v| v.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (low, high) = if low >= 0.0 && high <= 1.0 {
        (0.0, 1.0)
    } else if high > low {
        (low, high)
    } else {
        (low - 0.5, low + 0.5)
    };
    let grid_columns = columns.min(images.len());
    let grid_rows = images.len().div_ceil(grid_columns);
    let picture_width = GAP + grid_columns * (width * BLOCK + GAP);
    let picture_height = GAP + grid_rows * (height * BLOCK + GAP);
    let too_large = |_| PlotError::BadSize {
        width: u32::MAX,
        height: u32::MAX,
        why: "too large",
    };
    let (w32, h32) = (
        u32::try_from(picture_width).map_err(too_large)?,
        u32::try_from(picture_height).map_err(too_large)?,
    );
    if picture_width.saturating_mul(picture_height) > 100_000_000 {
        return Err(PlotError::BadSize {
            width: w32,
            height: h32,
            why: "too large",
        });
    }
    let mut pixels = vec![255u8; picture_width * picture_height * 3];
    for (index, image) in images.iter().enumerate() {
        let left = GAP + (index % grid_columns) * (width * BLOCK + GAP);
        let top = GAP + (index / grid_columns) * (height * BLOCK + GAP);
        for (k, &value) in image.iter().enumerate() {
            let ink = if value.is_finite() {
                ((value - low) / (high - low)).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let shade = (255.0 * (1.0 - ink)).round() as u8;
            let (row, column) = (k / width, k % width);
            for dy in 0..BLOCK {
                let y = top + row * BLOCK + dy;
                let start = (y * picture_width + left + column * BLOCK) * 3;
                pixels[start..start + BLOCK * 3].fill(shade);
            }
        }
    }
    let bytes = encode_png(&pixels, w32, h32)?;
    ppl_planner::report::write_atomically(path, &bytes).map_err(|e| PlotError::Unwritable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok((w32, h32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_grid_of_the_right_size() {
        let dir = std::env::temp_dir().join(format!("ppl-image-grid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grid.png");
        let images: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64 / 4.0; 64]).collect();
        image_grid(&images, (8, 8), 3, &path).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width as usize, GAP + 3 * (8 * BLOCK + GAP));
        assert_eq!(info.height as usize, GAP + 2 * (8 * BLOCK + GAP));
        assert!(image_grid(&images, (8, 8), 3, &dir.join("grid.svg")).is_err());
        assert!(image_grid(&[vec![0.0; 3]], (8, 8), 3, &path).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
