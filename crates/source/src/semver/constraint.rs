//! Semver constraints with upstream's (Masterminds semver v3) syntax and matching rules, on
//! top of the `semver` crate's versions. Supported forms:
//!
//! - comparisons `=`, `!=`, `>`, `<`, `>=`, `=>`, `<=`, `=<`, and a bare version (`=`);
//! - wildcards `x`, `X`, `*` or missing parts: `1.2.*`, `1.x`, `1`, `*`;
//! - tilde `~1.2` / `~>1.2` (same minor, or same major when the minor is a wildcard);
//! - caret `^1.2` (same major; for 0.x the same minor; for 0.0.x the same patch);
//! - hyphen ranges `1.2 - 1.4.5`;
//! - AND by spaces or commas (`>=1.0.0 <2.0.0`), OR by `||`.
//!
//! As upstream, prerelease versions match only when a comparator of the same OR group has a
//! prerelease itself (`*-0`, `>=1.2.0-0`).

use std::cmp::Ordering;

use semver::Version;

use super::version;

pub struct Constraint {
    groups: Vec<Group>,
}

/// Comparators that must all hold.
struct Group {
    items: Vec<Item>,
    /// Some comparator names a prerelease, which lets prereleases match.
    pre: bool,
}

struct Item {
    op: Op,
    version: Version,
    wild: Wild,
}

#[derive(Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

/// The first part that was a wildcard or missing; later parts are zero in `version`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wild {
    None,
    Patch,
    Minor,
    Major,
}

impl Constraint {
    /// `None` if `s` is not a constraint.
    pub fn parse(s: &str) -> Option<Self> {
        let groups = s.split("||").map(group).collect::<Option<Vec<_>>>()?;
        Some(Self { groups })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|g| (v.pre.is_empty() || g.pre) && g.items.iter().all(|item| item.matches(v)))
    }
}

fn group(s: &str) -> Option<Group> {
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let split = token
            .find(|c: char| !matches!(c, '=' | '!' | '<' | '>' | '~' | '^'))
            .unwrap_or(token.len());
        let (op, mut operand) = token.split_at(split);
        if operand.is_empty() {
            // The operator stands apart: `>= 1.2`.
            i += 1;
            operand = tokens.get(i)?;
        }
        let (version, wild) = operand_of(operand)?;
        if op.is_empty() && tokens.get(i + 1) == Some(&"-") {
            let (upper, upper_wild) = operand_of(tokens.get(i + 2)?)?;
            items.push(Item::new(Op::Ge, version, wild));
            items.push(Item::new(Op::Le, upper, upper_wild));
            i += 3;
            continue;
        }
        let op = match op {
            "" | "=" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" | "=>" => Op::Ge,
            "<=" | "=<" => Op::Le,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            _ => return None,
        };
        items.push(Item::new(op, version, wild));
        i += 1;
    }
    if items.is_empty() {
        return None;
    }
    let pre = items.iter().any(|item| !item.version.pre.is_empty());
    Some(Group { items, pre })
}

/// A comparator's version: wildcards and missing parts become zeros, remembered in `Wild`.
fn operand_of(s: &str) -> Option<(Version, Wild)> {
    let p = version::pieces(s)?;
    let is_wild = |part: &str| matches!(part, "x" | "X" | "*");
    let mut numbers = [0u64; 3];
    let mut wild = Wild::None;
    for (i, slot) in [Wild::Major, Wild::Minor, Wild::Patch]
        .into_iter()
        .enumerate()
    {
        match p.parts.get(i) {
            Some(part) if is_wild(part) => {
                wild = slot;
                break;
            }
            Some(part) => numbers[i] = part.parse().ok()?,
            None => {
                wild = slot;
                break;
            }
        }
    }
    let [major, minor, patch] = numbers;
    let mut version = Version::new(major, minor, patch);
    version.pre = p.pre;
    // Like upstream, build metadata survives only on a fully specified version.
    if wild == Wild::None {
        version.build = p.build;
    }
    Some((version, wild))
}

// === impl Item ===

impl Item {
    fn new(op: Op, version: Version, wild: Wild) -> Self {
        Self { op, version, wild }
    }

    fn matches(&self, v: &Version) -> bool {
        let c = &self.version;
        let cmp = v.cmp_precedence(c);
        let dirty = self.wild != Wild::None;
        match self.op {
            Op::Eq if dirty => self.tilde(v),
            Op::Eq => cmp == Ordering::Equal,
            Op::Ne => self.not_equal(v),
            Op::Gt if !dirty => cmp == Ordering::Greater,
            Op::Gt => match v.major.cmp(&c.major) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => match self.wild {
                    // `>1` needs 2.0.0 or more.
                    Wild::Minor => false,
                    // `>1.2` needs 1.3.0 or more.
                    Wild::Patch => v.minor > c.minor,
                    _ => cmp == Ordering::Greater,
                },
            },
            Op::Lt => cmp == Ordering::Less,
            Op::Ge => cmp != Ordering::Less,
            Op::Le if !dirty => cmp != Ordering::Greater,
            Op::Le => {
                v.major < c.major
                    || (v.major == c.major && (v.minor <= c.minor || self.wild == Wild::Minor))
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.cmp_precedence(c) == Ordering::Less {
            return false;
        }
        // `~0.0.0` and `*` accept everything.
        if (c.major, c.minor, c.patch) == (0, 0, 0)
            && !matches!(self.wild, Wild::Minor | Wild::Patch)
        {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.wild == Wild::Minor)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.cmp_precedence(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.wild == Wild::Minor {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.wild == Wild::Patch {
            return v.minor == c.minor;
        }
        v.minor == 0 && v.patch == c.patch
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.version;
        if self.wild != Wild::None {
            if v.major != c.major {
                return true;
            }
            match self.wild {
                Wild::Minor => return false,
                Wild::Patch if v.minor != c.minor => return true,
                Wild::Patch => return v.pre != c.pre,
                _ if v.minor != c.minor || v.patch != c.patch => return true,
                _ => {}
            }
        }
        v.cmp_precedence(c) != Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(constraint: &str, yes: &[&str], no: &[&str]) {
        let c = Constraint::parse(constraint).unwrap_or_else(|| panic!("{constraint} unparsed"));
        for v in yes {
            assert!(
                c.matches(&version::parse(v).unwrap()),
                "{constraint} should match {v}"
            );
        }
        for v in no {
            assert!(
                !c.matches(&version::parse(v).unwrap()),
                "{constraint} should not match {v}"
            );
        }
    }

    #[test]
    fn wildcards() {
        check(
            "1.2.*",
            &["1.2.0", "1.2.9"],
            &["1.3.0", "1.1.9", "1.2.5-rc1"],
        );
        check("1.x", &["1.0.0", "1.9.9"], &["2.0.0", "0.9.0"]);
        check("*", &["0.0.1", "9.9.9"], &["1.0.0-alpha"]);
        check("*-0", &["0.0.1", "9.9.9", "1.0.0-alpha"], &[]);
        check("v1.2.X", &["1.2.3"], &["1.3.0"]);
    }

    #[test]
    fn comparisons_and_ranges() {
        check(
            ">=1.0.0 <2.0.0",
            &["1.0.0", "1.9.9"],
            &["2.0.0", "0.9.9", "1.5.0-rc1"],
        );
        check(">=1.0.0, <2.0.0", &["1.5.0"], &["2.0.0"]);
        check(">= 1.2 < 1.4", &["1.2.0", "1.3.9"], &["1.4.0"]);
        // A prerelease comparator opens the whole group to prereleases, as upstream.
        check(
            ">=1.2.0-0 <1.3.0",
            &["1.2.5-rc1", "1.2.0", "1.3.0-rc1"],
            &["1.3.0"],
        );
        check("1.2 - 1.4", &["1.2.0", "1.4.7"], &["1.5.0", "1.1.9"]);
        check(">1.2", &["1.3.0", "2.0.0"], &["1.2.9"]);
        check("<=1.2", &["1.2.9", "0.1.0"], &["1.3.0"]);
        check("!=1.2.3", &["1.2.4"], &["1.2.3"]);
        check("!=1.2.x", &["1.3.0"], &["1.2.7"]);
        check(
            "<1.0.0 || >=3.0.0",
            &["0.5.0", "3.1.0"],
            &["1.0.0", "2.9.9"],
        );
        check("=1.2.3", &["1.2.3", "v1.2.3+build"], &["1.2.4"]);
    }

    #[test]
    fn tilde_and_caret() {
        check("~1.2", &["1.2.0", "1.2.9"], &["1.3.0"]);
        check("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]);
        check("~1", &["1.0.0", "1.9.0"], &["2.0.0"]);
        check("~>2.0", &["2.0.5"], &["2.1.0"]);
        check("^1.2", &["1.2.0", "1.9.9"], &["2.0.0", "1.1.0"]);
        check("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0"]);
        check("^0.0.3", &["0.0.3"], &["0.0.4"]);
        check("^0", &["0.9.0"], &["1.0.0"]);
    }

    #[test]
    fn not_constraints() {
        for s in [
            "",
            "main",
            "HEAD",
            "feature/x",
            "1.2.3.4",
            ">=",
            "1.2 -",
            "=~1.0",
            "1.x.y",
            "release-1.2",
        ] {
            assert!(Constraint::parse(s).is_none(), "{s}");
        }
    }
}

#[cfg(test)]
#[path = "constraint_props.rs"]
mod props;
