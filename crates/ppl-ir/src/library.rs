//! The library models shipped inside the binary (LANGUAGE.md §5): `library/*.model` at the root of
//! the repository, ordinary model files that start with a signature, compiled in with
//! `include_str!` so that `x ~ VAE(...)` works from any directory. The checker inlines them
//! (`check/library.rs`); `ppl help library` lists them from their own text.

/// One shipped library model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibraryFile {
    /// The name a model calls it by (`VAE`), as in its signature.
    pub name: &'static str,
    /// Where it lives in the repository, for messages and for users who copy it.
    pub path: &'static str,
    pub source: &'static str,
}

/// Every library file. Several files may share a name; the checker takes the first whose observed
/// variable's element type fits the target (`VAE` on int or bool data is the Bernoulli decoder, on
/// real data the Normal one).
pub const LIBRARY: &[LibraryFile] = &[
    LibraryFile {
        name: "VAE",
        path: "library/vae.model",
        source: include_str!("../../../library/vae.model"),
    },
    LibraryFile {
        name: "VAE",
        path: "library/vae_real.model",
        source: include_str!("../../../library/vae_real.model"),
    },
    LibraryFile {
        name: "RBM",
        path: "library/rbm.model",
        source: include_str!("../../../library/rbm.model"),
    },
    LibraryFile {
        name: "GAN",
        path: "library/gan.model",
        source: include_str!("../../../library/gan.model"),
    },
];

/// The distinct names of the library models, in catalogue order.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for file in LIBRARY {
        if !names.contains(&file.name) {
            names.push(file.name);
        }
    }
    names
}

/// The files a name may resolve to (empty for a name that is not a library model).
pub fn files(name: &str) -> impl Iterator<Item = &'static LibraryFile> {
    LIBRARY.iter().filter(move |file| file.name == name)
}

impl LibraryFile {
    /// The signature line as written (`model VAE(latent: int = 2, hidden: int[] = [128])`).
    pub fn signature(&self) -> &'static str {
        self.source
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("model "))
            .unwrap_or("")
    }

    /// The comment lines above the signature, without their `#`: what the model is and how to use it.
    pub fn description(&self) -> Vec<&'static str> {
        self.source
            .lines()
            .take_while(|line| line.trim_start().starts_with('#'))
            .map(|line| line.trim_start().trim_start_matches('#').trim())
            .collect()
    }

    /// The 1-based line number of a byte offset, and that line's text.
    pub fn line_at(&self, offset: usize) -> (usize, &'static str) {
        let before = self.source.get(..offset).unwrap_or(self.source);
        let number = before.matches('\n').count() + 1;
        let text = self.source.lines().nth(number - 1).unwrap_or("").trim();
        (number, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_its_signature_and_a_description() {
        for file in LIBRARY {
            assert!(
                file.signature()
                    .starts_with(&format!("model {}(", file.name)),
                "{}",
                file.path
            );
            assert!(!file.description().is_empty(), "{}", file.path);
        }
        assert_eq!(names(), vec!["VAE", "RBM", "GAN"]);
        assert_eq!(files("VAE").count(), 2);
        assert_eq!(files("Normal").count(), 0);
    }

    #[test]
    fn a_byte_offset_names_its_line() {
        let file = &LIBRARY[0];
        let offset = file.source.find("net encoder").unwrap();
        let (line, text) = file.line_at(offset);
        assert!(text.starts_with("net encoder"));
        assert_eq!(file.source.lines().nth(line - 1).unwrap().trim(), text);
    }
}
