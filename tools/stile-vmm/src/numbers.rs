//! Numbers as a user types them: `4096`, `0x9000_0000`, `64K`, `4M`, `1G`.

/// Parses a size or address; `None` for anything else (or an overflow).
pub fn parse(s: &str) -> Option<u64> {
    let s = s.trim().replace('_', "");
    let (digits, shift) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 10),
        'M' | 'm' => (&s[..s.len() - 1], 20),
        'G' | 'g' => (&s[..s.len() - 1], 30),
        _ => (&s[..], 0),
    };
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        digits.parse::<u64>().ok()?
    };
    v.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_and_addresses_parse() {
        assert_eq!(parse("4096"), Some(4096));
        assert_eq!(parse("0x9000_0000"), Some(0x9000_0000));
        assert_eq!(parse("64K"), Some(64 << 10));
        assert_eq!(parse("4M"), Some(4 << 20));
        assert_eq!(parse("1g"), Some(1 << 30));
        assert_eq!(parse("0x10K"), Some(16 << 10));
    }

    #[test]
    fn nonsense_and_overflow_are_refused() {
        for s in [
            "",
            "K",
            "0x",
            "12Q",
            "-1",
            "99999999999G",
            "0xffffffffffffffffK",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
