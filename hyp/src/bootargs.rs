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

/// `bootargs` without Stile's own `stile.*` words: what the host should see.
pub fn without_stile_options<const N: usize>(bootargs: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for word in bootargs
        .split_ascii_whitespace()
        .filter(|w| !w.starts_with("stile."))
    {
        // Words that do not fit are dropped whole rather than cut.
        if out.len() + word.len() < N {
            if !out.is_empty() {
                let _ = out.push(' ');
            }
            let _ = out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{option, without_stile_options};

    #[test]
    fn host_bootargs_lose_only_stile_words() {
        let s: heapless::String<64> =
            without_stile_options("console=ttyAMA0 stile.selftest=x  quiet");
        assert_eq!(s.as_str(), "console=ttyAMA0 quiet");
        let s: heapless::String<8> = without_stile_options("abcdefghij xy");
        assert_eq!(s.as_str(), "xy");
    }

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
