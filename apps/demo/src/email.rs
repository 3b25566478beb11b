//! Email addresses as account names: one spelling per account, and no lookalikes
//! (issue 11, point 9).
//!
//! An address is normalised to NFKC with Unicode default case folding (so `JOSÉ` in
//! either normal form, fullwidth `ａ` and `ß`/`ss` each name one account), refused when it
//! holds invisible or direction-changing characters, and compared with existing accounts
//! by its confusable skeleton (Unicode TS #39): `pаypal` with a Cyrillic `а` is refused as
//! a lookalike of `paypal`. The skeleton is kept in a unique column, so two lookalikes
//! registering at once cannot both win.

use unicode_normalization::UnicodeNormalization as _;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not shaped like an email address.
    Invalid,
    /// Holds an invisible, default-ignorable or bidirectional control character.
    Invisible,
}

/// Default-ignorable code points (Unicode `DerivedCoreProperties.txt`, which includes the
/// bidirectional controls U+061C, U+200E/F, U+202A–E, U+2066–9 and the zero-width ones).
/// Written out because `unicode-security` keeps its copy of this table private.
const IGNORABLE: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{34f}', '\u{34f}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{115f}', '\u{1160}'),
    ('\u{17b4}', '\u{17b5}'),
    ('\u{180b}', '\u{180f}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{206f}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{fe00}', '\u{fe0f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{ffa0}', '\u{ffa0}'),
    ('\u{fff0}', '\u{fff8}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0000}', '\u{e0fff}'),
];

fn invisible(c: char) -> bool {
    c.is_control() || IGNORABLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The account name for `raw`: trimmed, NFKC, case-folded, and shaped like an address.
pub fn normalize(raw: &str) -> Result<String, Problem> {
    let raw = raw.trim();
    if raw.chars().any(invisible) {
        return Err(Problem::Invisible);
    }
    let nfkc: String = raw.nfkc().collect();
    let email: String = caseless::default_case_fold_str(&nfkc).nfkc().collect();
    if email.chars().any(invisible) {
        return Err(Problem::Invisible);
    }
    if email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(Problem::Invalid);
    }
    let (local, domain) = email.rsplit_once('@').ok_or(Problem::Invalid)?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if ok { Ok(email) } else { Err(Problem::Invalid) }
}

/// The confusable skeleton of a normalised address (TS #39): two addresses with the same
/// skeleton look alike.
pub fn skeleton(email: &str) -> String {
    unicode_security::skeleton(email).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            normalize("  Ana@Example.COM "),
            Ok("ana@example.com".into())
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@localhost",
            "a b@example.com",
            "ana@exa mple.com",
            "ana@-x.com",
            "ana@x..com",
            "ana@<x>.com",
        ] {
            assert_eq!(normalize(bad), Err(Problem::Invalid), "{bad}");
        }
    }

    #[test]
    fn one_spelling_per_account() {
        let nfc = "jos\u{e9}@example.com";
        let nfd = "jose\u{301}@example.com";
        assert_eq!(normalize(nfc), normalize(nfd));
        assert_eq!(normalize("JOS\u{c9}@EXAMPLE.COM"), normalize(nfc));
        // Fullwidth letters fold to ASCII; ß folds to ss.
        assert_eq!(
            normalize("\u{ff41}na@example.com"),
            Ok("ana@example.com".into())
        );
        assert_eq!(
            normalize("stra\u{df}e@example.com"),
            Ok("strasse@example.com".into())
        );
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        for bad in [
            "admin\u{200b}@example.com",
            "ad\u{200d}min@example.com",
            "admin@exa\u{202e}mple.com",
            "\u{2066}admin@example.com",
            "admin\u{ad}@example.com",
            "admin\u{feff}@example.com",
            "admin\u{e0041}@example.com",
        ] {
            assert_eq!(normalize(bad), Err(Problem::Invisible), "{bad:?}");
        }
    }

    #[test]
    fn lookalikes_share_a_skeleton() {
        let latin = normalize("ivan@example.com").expect("valid");
        let cyrillic_i = normalize("\u{456}van@example.com").expect("valid");
        assert_ne!(latin, cyrillic_i);
        assert_eq!(skeleton(&latin), skeleton(&cyrillic_i));
        let paypal = normalize("paypal@example.com").expect("valid");
        let cyrillic_a = normalize("p\u{430}ypal@example.com").expect("valid");
        assert_eq!(skeleton(&paypal), skeleton(&cyrillic_a));
        assert_ne!(
            skeleton(&paypal),
            skeleton(&normalize("paypa1x@example.com").expect("valid"))
        );
    }
}
