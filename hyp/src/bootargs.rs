//! Stile's options on the kernel command line (`/chosen/bootargs`): `stile.<key>=<value>`
//! words; everything else on the line belongs to someone else and is ignored.

/// The value of `stile.<key>=...`, last one wins (as on Linux's command line).
pub fn option<'a>(bootargs: &'a str, key: &str) -> Option<&'a str> {
    bootargs
        .split_ascii_whitespace()
        .rev()
        .filter_map(|word| word.strip_prefix("stile.")?.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::option;

    #[test]
    fn finds_stile_options_among_others() {
        let args = "console=ttyAMA0 stile.selftest=panic quiet";
        assert_eq!(option(args, "selftest"), Some("panic"));
        assert_eq!(option(args, "console"), None, "not ours");
        assert_eq!(option("", "selftest"), None);
    }

    #[test]
    fn last_occurrence_wins_and_bare_words_are_ignored() {
        assert_eq!(
            option(
                "stile.selftest=a stile.selftest stile.selftest=b",
                "selftest"
            ),
            Some("b")
        );
        assert_eq!(option("stile.selftest=", "selftest"), Some(""));
    }
}
