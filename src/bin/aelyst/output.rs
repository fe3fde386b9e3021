//! Command lines the user can paste. Lines are printed by the crate's one rule
//! ([`aelyst::outside::output`]), which never fails the run on a closed pipe.

pub use aelyst::outside::output::{say, warn};

/// `args` as one line a POSIX shell (`sh`, dash, bash) runs as that command, for a step the
/// user can paste. Each argument goes as it is when that is safe, or in single quotes; one
/// holding bytes that would act on the terminal (control, bidi and invisible characters) or
/// are not UTF-8, as a file's name may, is made by `printf %b`, so that the line stays one
/// line of text that shows what it runs. A command substitution drops trailing line feeds, so
/// an argument ending in one is made with a last `x` into a variable set before the command,
/// and taken without it.
pub fn shell_line<A: AsRef<[u8]>>(args: &[A]) -> String {
    let mut setup = Vec::new();
    let mut words = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        match plain(arg) {
            Some(word) => words.push(word),
            None if arg.ends_with(b"\n") => {
                let name = format!("aelyst_arg{}", setup.len() + 1);
                setup.push(format!("{name}={}", printf(&[arg, b"x"].concat())));
                words.push(format!("\"${{{name}%x}}\""));
            }
            None => words.push(printf(arg)),
        }
    }
    setup.push(words.join(" "));
    setup.join("; ")
}

/// `arg` as a shell word without `printf`, when it can be one.
fn plain(arg: &[u8]) -> Option<String> {
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(b);
    let text = std::str::from_utf8(arg).ok()?;
    if !text.is_empty() && arg.iter().all(safe) {
        return Some(text.to_owned());
    }
    (!text.chars().any(aelyst::outside::text::is_invisible))
        .then(|| format!("'{}'", text.replace('\'', r"'\''")))
}

/// `arg` made by `printf %b`, which reads `\0NNN` as that byte, in double quotes.
fn printf(arg: &[u8]) -> String {
    let mut escaped = String::new();
    for &b in arg {
        match b {
            b'\\' => escaped.push_str(r"\\"),
            b'\'' => escaped.push_str(r"'\''"),
            b' '..=b'~' => escaped.push(char::from(b)),
            _ => escaped.push_str(&format!("\\0{b:03o}")),
        }
    }
    format!("\"$(printf %b '{escaped}')\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_only_as_much_as_they_need() {
        assert_eq!(
            shell_line(&["aelyst", "--file=a.csv"]),
            "aelyst --file=a.csv"
        );
        assert_eq!(shell_line(&["--tag=it's"]), r"'--tag=it'\''s'");
        assert_eq!(
            shell_line(&[&b"--file=a\xff\tb\\"[..]]),
            r#""$(printf %b '--file=a\0377\0011b\\')""#
        );
        assert_eq!(shell_line(&[r"--tag=\'"]), r"'--tag=\'\'''");
        assert_eq!(
            shell_line(&["--file=\u{202E}x"]),
            r#""$(printf %b '--file=\0342\0200\0256x')""#
        );
    }

    #[test]
    fn a_trailing_line_feed_survives() {
        assert_eq!(
            shell_line(&["aelyst", "--file=a\n", "--tag=b'\n"]),
            r#"aelyst_arg1="$(printf %b '--file=a\0012x')"; aelyst_arg2="$(printf %b '--tag=b'\''\0012x')"; aelyst "${aelyst_arg1%x}" "${aelyst_arg2%x}""#
        );
    }
}
