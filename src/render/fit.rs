//! Text for people folded to the width of their terminal: one width chosen
//! once (`width`), and `fit`, which folds rendered lines at spaces, each
//! continuation indented under its item. Renderers write logical lines;
//! only this file knows about columns.

use std::sync::LazyLock;

use regex::Regex;

/// The width when stdout is not a terminal and `COLUMNS` says nothing.
pub const DEFAULT_WIDTH: usize = 80;

/// Narrower than this, a hanging indent leaves no room: taken as this.
pub const MIN_WIDTH: usize = 20;

/// The width text for people is folded to: `COLUMNS` when it is a positive
/// number (as Python's `shutil`, clap and `ls` let it decide), else the
/// terminal's width when stdout is one, else 80.
pub fn width(columns: Option<&str>, terminal: Option<usize>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or(terminal.filter(|&c| c > 0))
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// What starts an item: bullets (`✗`, `✓`, `!`, `→`, `-`), numbers (`3.`),
/// tags (`[auto]`, `[✓ applied]`), then a label (`note:`, `fix:   `,
/// `web-01 (rg):`) followed by text. Its continuation lines go under the
/// text after it.
static ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^( *)((?:(?:[✗✓!→•*-]|\d{1,4}\.|\[[^\]]{1,24}\]) )*)((?:[A-Za-z][\w.-]*(?: \([^()]{1,40}\))?: +)?)\S",
    )
    .expect("a valid pattern")
});

/// How one line of text starts.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    /// Leading spaces.
    indent: usize,
    /// Columns of the indent and the item's bullets, tags and label.
    lead: usize,
    /// The item has a label (`fix:   `): the lines already under its text
    /// are its own, folded with it.
    labelled: bool,
}

impl Shape {
    fn of(plain: &str) -> Shape {
        let indent = plain.len() - plain.trim_start_matches(' ').len();
        let (marks, label) = ITEM.captures(plain).map_or((0, 0), |c| {
            let count = |i| {
                c.get(i)
                    .map_or(0, |m: regex::Match| m.as_str().chars().count())
            };
            (count(2), count(3))
        });
        Shape {
            indent,
            lead: indent + marks + label,
            labelled: label > 0,
        }
    }

    /// Whether the line starts an item (its continuation lines are its own).
    fn item(&self) -> bool {
        self.lead > self.indent
    }

    /// Where the continuation lines start: under the item's text, or four
    /// in from the line's indent when that leaves too little room.
    fn hang(&self, width: usize) -> usize {
        if self.item() && self.lead * 2 <= width {
            self.lead
        } else {
            self.indent + 4
        }
    }
}

/// A line kept whole whatever its width: a command (`$ …`, also after a
/// one-word label such as `fix: $ …`) or a script line (`│ …`), copied as
/// they are: a command folded at a space would run in another form when
/// pasted.
fn literal(plain: &str) -> bool {
    let t = plain.trim_start();
    let command = |t: &str| t.starts_with("$ ") || t == "$";
    let labelled = t
        .split_once(": ")
        .is_some_and(|(label, rest)| !label.contains(' ') && command(rest.trim_start()));
    command(t) || labelled || t.starts_with('│')
}

/// `text` with every line folded to `width` columns at spaces; colour
/// escapes take no room. A word longer than the line (an id, a URL, a
/// path) stays whole on its own line; commands, scripts and the indented
/// lines under a line ending with `:` (a list of commands) stay whole. A
/// labelled item's continuation lines already under its text (`fix:` and
/// the lines under it) are folded with it.
pub fn fit(text: &str, width: usize) -> String {
    let lines: Vec<(&str, &str)> = text.split_inclusive('\n').map(split_end).collect();
    let plain: Vec<String> = lines
        .iter()
        .map(|(b, _)| console::strip_ansi_codes(b).into_owned())
        .collect();
    let mut out = String::new();
    // The indent of a line ending with ':': the lines below it, further in, stay whole.
    let mut block: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let (body, end) = lines[i];
        let shape = Shape::of(&plain[i]);
        let blank = plain[i].trim().is_empty();
        if block.is_some_and(|b| shape.indent > b) && !blank {
            out.push_str(body);
            out.push_str(end);
            i += 1;
            continue;
        }
        block = (!shape.item() && plain[i].trim_end().ends_with(':')).then_some(shape.indent);
        let hang = shape.hang(width);
        // A labelled item's own continuation lines, already under its text.
        let mut next = i + 1;
        while shape.labelled
            && hang == shape.lead
            && next < lines.len()
            && Shape::of(&plain[next]).indent == hang
            && !literal(&plain[next])
        {
            next += 1;
        }
        if blank || literal(&plain[i]) || (next == i + 1 && fits(body, width)) {
            out.push_str(body);
            out.push_str(end);
        } else {
            out.push_str(&fold(&lines[i..next], &shape, hang, width));
            out.push_str(lines[next - 1].1);
        }
        i = next;
    }
    out
}

/// A line without its newline, and the newline.
fn split_end(line: &str) -> (&str, &str) {
    match line.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (line, ""),
    }
}

fn fits(line: &str, width: usize) -> bool {
    console::measure_text_width(line) <= width
}

/// One item (its first line and the continuation lines under it) folded:
/// its lead as it was, then its words, each line as full as `width` allows.
fn fold(lines: &[(&str, &str)], shape: &Shape, hang: usize, width: usize) -> String {
    let (lead, first) = split_visible(lines[0].0, shape.lead);
    let mut words: Vec<String> = first.split(' ').map(str::to_string).collect();
    for (body, _) in &lines[1..] {
        let (indent, rest) = split_visible(body, hang);
        // Colour begun in the indent (a style spanning lines) goes on with the text.
        let escapes: String = indent.chars().filter(|c| *c != ' ').collect();
        words.extend(format!("{escapes}{rest}").split(' ').map(str::to_string));
    }
    let mut out = lead.to_string();
    let mut column = shape.lead;
    let mut empty = true;
    for word in words.iter().filter(|w| !w.is_empty()) {
        let wide = console::measure_text_width(word);
        if !empty && column + 1 + wide > width {
            out.push('\n');
            out.push_str(&" ".repeat(hang));
            column = hang;
            empty = true;
        }
        if !empty {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += wide;
        empty = false;
    }
    out
}

/// `s` split after its first `n` visible characters (colour escapes count
/// for none; those right after the split stay in the first part).
fn split_visible(s: &str, n: usize) -> (&str, &str) {
    let mut seen = 0;
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c == '\u{1b}' {
            chars.next();
            // CSI: ESC '[' parameters, then a final byte in '@'..='~'.
            if chars.peek().map(|&(_, c)| c) == Some('[') {
                chars.next();
                for (_, c) in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if seen == n {
            return s.split_at(i);
        }
        seen += 1;
        chars.next();
    }
    (s, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `text` wider than `width`.
    fn too_wide(text: &str, width: usize) -> Vec<&str> {
        text.lines()
            .filter(|l| console::measure_text_width(l) > width)
            .collect()
    }

    #[test]
    fn columns_wins_then_the_terminal_then_80() {
        assert_eq!(width(Some("120"), Some(60)), 120);
        assert_eq!(width(None, Some(60)), 60);
        assert_eq!(width(None, None), 80);
        assert_eq!(width(Some("wide"), Some(60)), 60, "not a number");
        assert_eq!(width(Some("0"), None), 80, "zero");
        assert_eq!(width(Some(" 100 "), None), 100);
        assert_eq!(width(Some("5"), None), MIN_WIDTH);
    }

    #[test]
    fn a_command_stays_whole_also_after_a_label() {
        // Folded at a space, the first line pasted alone would install the
        // module without its version bound.
        let text = "   fix: $ Install-Module -Name Az.Ssh.ArcProxy -Repository PSGallery -Scope CurrentUser -MaximumVersion 1.9.9 -Force\n   or:  $ arcfix apply --id <machine id> --checks client,azure\n        $ ssh-keygen -R web-01 -f /home/ana/.ssh/known_hosts\n";
        assert_eq!(fit(text, 40), text);
        // Prose with a colon is still folded.
        assert_ne!(
            fit(
                "   note: the agent must still be restarted on web-01 and web-02\n",
                40
            ),
            "   note: the agent must still be restarted on web-01 and web-02\n"
        );
    }

    #[test]
    fn a_list_item_continues_under_its_text() {
        let text = "    1. [auto] assign-login-role-web-01 — Assign yourself the Virtual Machine User Login role on web-01\n";
        assert_eq!(
            fit(text, 60),
            "    1. [auto] assign-login-role-web-01 — Assign yourself the\n              \
             Virtual Machine User Login role on web-01\n"
        );
    }

    #[test]
    fn a_label_continues_under_its_text_and_its_old_lines_are_folded_again() {
        let text = "   fix:       one two three four five six seven\n              eight nine\n   commands:\n";
        assert_eq!(
            fit(text, 36),
            "   fix:       one two three four\n              five six seven eight\n              nine\n   commands:\n"
        );
        assert_eq!(
            fit(
                "  note: web-01, web-02: the agent must still be restarted\n",
                40
            ),
            "  note: web-01, web-02: the agent must\n        still be restarted\n"
        );
    }

    #[test]
    fn the_lines_under_a_bullet_are_their_own() {
        let text = "    ! by hand in two resource groups, named below them\n      arc-web: web-01\n      arc-db: db-01\n";
        assert_eq!(
            fit(text, 40),
            "    ! by hand in two resource groups,\n      named below them\n      arc-web: web-01\n      arc-db: db-01\n"
        );
    }

    #[test]
    fn a_line_without_an_item_hangs_four_in() {
        assert_eq!(
            fit(
                "  server not checked — web-03: the agent is Disconnected\n",
                40
            ),
            "  server not checked — web-03: the agent\n      is Disconnected\n"
        );
    }

    #[test]
    fn commands_scripts_and_the_lines_under_a_colon_stay_whole() {
        let long = "x ".repeat(40);
        let text = format!(
            "       $ az {long}\n       │ {long}\n   commands:\n     az {long}\n   arcfix: {long}\n"
        );
        let out = fit(&text, 40);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("       $ az {long}"));
        assert_eq!(lines[1], format!("       │ {long}"));
        assert_eq!(lines[3], format!("     az {long}"));
        assert!(lines[4].starts_with("   arcfix: x x"), "{out}");
        assert!(lines.len() > 6, "the label's line is folded: {out}");
    }

    #[test]
    fn a_word_longer_than_the_line_stays_whole_on_its_own_line() {
        let id = "/subscriptions/3f2d5c1e-8a4b-4c6d-9e0f-1a2b3c4d5e6f/resourceGroups/arc-web";
        let out = fit(
            &format!("  ✗ rp-not-registered [manual] 1 subscription: {id}\n"),
            60,
        );
        assert_eq!(
            out,
            format!("  ✗ rp-not-registered [manual] 1 subscription:\n    {id}\n")
        );
        assert_eq!(too_wide(&out, 60), vec![format!("    {id}")]);
    }

    #[test]
    fn colour_takes_no_room_and_survives() {
        let red = console::Style::new().red().force_styling(true);
        let text = format!(
            "  {} {} words words words words\n",
            red.apply_to("✗"),
            red.apply_to("id")
        );
        let out = fit(&text, 20);
        assert!(too_wide(&out, 20).is_empty(), "{out:?}");
        assert_eq!(
            console::strip_ansi_codes(&out),
            "  ✗ id words words\n    words words\n"
        );
        assert!(out.contains(&red.apply_to("id").to_string()), "{out:?}");
    }

    #[test]
    fn text_that_fits_is_left_as_it_is_and_folding_twice_changes_nothing() {
        let text = "Plan (2 steps)\n\n  local\n    1. [auto] x — y\n";
        assert_eq!(fit(text, 80), text);
        let long = "    1. [auto] chmod — Add the execute permission to the proxy file of the module\n       $ chmod +x f\n";
        let once = fit(long, 40);
        assert_eq!(fit(&once, 40), once);
        assert!(too_wide(&once, 40).is_empty(), "{once}");
    }

    #[test]
    fn a_deep_item_at_a_narrow_width_hangs_four_in() {
        let out = fit(
            "    1. [= already satisfied] step-id — the description\n",
            40,
        );
        assert_eq!(
            out,
            "    1. [= already satisfied] step-id —\n        the description\n"
        );
    }
}
