//! Keeping passwords out of messages: [`Secrets`] replaces known secrets wherever they
//! appear (a driver's message may echo them), and [`redact_urls`] hides what looks like a
//! password in any URL or `key=value` string of a text, for input that was never parsed
//! (a URL given by mistake as another argument, and echoed back by a usage error).

/// Secrets to replace by `***` in any text shown to a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Longest first, so that a secret holding another is replaced whole.
    parts: Vec<String>,
}

/// Shorter secrets are not replaced: a one-character "secret" would garble every message,
/// and [`redact_urls`] still hides it where it appears in a URL.
const MIN_SECRET_LEN: usize = 2;

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Secrets::default()
    }

    /// Adds secrets to replace.
    pub fn extend(&mut self, parts: impl IntoIterator<Item = String>) {
        self.parts.extend(
            parts
                .into_iter()
                .filter(|p| p.chars().count() >= MIN_SECRET_LEN),
        );
        self.parts
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.parts.dedup();
    }

    /// The secrets of a command-line argument or an environment value: a URL's passwords,
    /// or the whole text when it must never be echoed (`postgres:` without `//`, a libpq
    /// `key=value` string).
    pub fn of_argument(text: &str) -> Self {
        let mut secrets = Secrets::new();
        secrets.add_argument(text);
        secrets
    }

    /// Adds the secrets of a command-line argument (see [`Secrets::of_argument`]).
    pub fn add_argument(&mut self, text: &str) {
        self.extend(super::sensitive_parts(text));
    }

    /// `text` with every secret replaced by `***`, then with [`redact_urls`] applied.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for part in &self.parts {
            if text.contains(part.as_str()) {
                text = text.replace(part.as_str(), "***");
            }
        }
        redact_urls(&text)
    }
}

/// What replaces a secret.
const MASK: &str = "***";

/// `text` with the password of every `scheme://user:password@host` replaced by `***`, and the
/// value of every `password=`, `sslpassword=` (and other secret keyword) too. Generous: the
/// user information runs to the last `@` before a space, so more than the password may go.
pub fn redact_urls(text: &str) -> String {
    redact_keywords(&redact_userinfo(text))
}

fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_authority(rest) {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let window_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let window = &tail[..window_end];
        match (window.rfind('@'), window.find(':')) {
            (Some(last_at), Some(colon)) if colon < last_at => {
                out.push_str(&window[..=colon]);
                out.push_str(MASK);
                out.push_str(&window[last_at..]);
            }
            _ => out.push_str(window),
        }
        rest = &tail[window_end..];
    }
    out.push_str(rest);
    out
}

/// Where the authority of the next URL starts: after `scheme://`, or after `postgres:` or
/// `postgresql:` alone (which libpq would not take for a URL, but a person would).
fn find_authority(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let scheme_sep = lower.match_indices("://").find_map(|(i, _)| {
        let scheme = &text[..i];
        let start = word_start(scheme, |c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let first = scheme[start..].chars().next();
        first
            .is_some_and(|c| c.is_ascii_alphabetic())
            .then_some(i + 3)
    });
    let bare_pg = ["postgresql:", "postgres:"]
        .iter()
        .filter_map(|p| lower.find(p).map(|i| i + p.len()))
        .filter(|&i| !lower[i..].starts_with("//"))
        .min();
    match (scheme_sep, bare_pg) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn redact_keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((value_start, value_end)) = next_secret_value(rest) {
        out.push_str(&rest[..value_start]);
        out.push_str(MASK);
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

/// The byte range of the value of the next `secret_keyword=value` in `text`, where the
/// keyword starts a word: `?password=`, `&sslpassword=`, ` password = 'it''s'`.
fn next_secret_value(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut search = 0;
    while let Some(eq) = text[search..].find('=').map(|i| search + i) {
        search = eq + 1;
        let key_end = text[..eq].trim_end().len();
        let key_start = word_start(&text[..key_end], |c| c.is_ascii_alphanumeric() || c == '_');
        if !super::libpq::is_secret_keyword(&text[key_start..key_end]) {
            continue;
        }
        let value_start = eq + 1 + (text[eq + 1..].len() - text[eq + 1..].trim_start().len());
        let value_end = if bytes.get(value_start) == Some(&b'\'') {
            quoted_end(text, value_start)
        } else {
            text[value_start..]
                .find(|c: char| c.is_whitespace() || c == '&' || c == '`' || c == '"')
                .map_or(text.len(), |i| value_start + i)
        };
        if value_end > value_start && &text[value_start..value_end] != MASK {
            return Some((value_start, value_end));
        }
    }
    None
}

/// Where the run of `in_word` characters that ends `text` starts.
fn word_start(text: &str, in_word: impl Fn(char) -> bool) -> usize {
    text.char_indices()
        .rev()
        .find(|(_, c)| !in_word(*c))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// The end of a libpq single-quoted value starting at `start` (`\'` and `\\` escape).
fn quoted_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden_whatever_the_scheme() {
        assert_eq!(
            redact_urls("`postgres://u:S3cretPW@h/db` is a FROM:TO range"),
            "`postgres://u:***@h/db` is a FROM:TO range"
        );
        assert_eq!(
            redact_urls("unexpected argument 'mysql://root:p@ss@db/x' found"),
            "unexpected argument 'mysql://root:***@db/x' found"
        );
        assert_eq!(
            redact_urls("a postgres:u:S3cretPW@h/db b"),
            "a postgres:u:***@h/db b"
        );
        assert_eq!(
            redact_urls("see https://www.postgresql.org/docs/x and sqlite:///tmp/a.db"),
            "see https://www.postgresql.org/docs/x and sqlite:///tmp/a.db"
        );
        assert_eq!(
            redact_urls("postgres://u:***@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn secret_keyword_values_are_hidden() {
        assert_eq!(
            redact_urls("host=h password=S3cret dbname=x"),
            "host=h password=*** dbname=x"
        );
        assert_eq!(
            redact_urls("host=h password = 'it\\'s secret' user=u"),
            "host=h password = *** user=u"
        );
        assert_eq!(
            redact_urls("postgres://h/db?sslpassword=k3y&sslmode=require"),
            "postgres://h/db?sslpassword=***&sslmode=require"
        );
        assert_eq!(
            redact_urls("mypassword=x, password_x=y"),
            "mypassword=x, password_x=y"
        );
    }

    #[test]
    fn words_after_non_ascii_characters_are_found() {
        assert_eq!(redact_urls("¡password=x ¡="), "¡password=*** ¡=");
        assert_eq!(
            redact_urls("éé日postgres://u:pw@h"),
            "éé日postgres://u:***@h"
        );
    }

    #[test]
    fn known_secrets_are_replaced_longest_first() {
        let mut secrets = Secrets::new();
        secrets.extend(["ab".to_owned(), "abcd".to_owned(), "x".to_owned()]);
        assert_eq!(secrets.scrub("abcd ab x"), "*** *** x");
    }
}
