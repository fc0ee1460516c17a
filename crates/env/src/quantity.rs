//! Kubernetes `resource.Quantity` syntax, which upstream uses for its size flags
//! (`--max-combined-directory-manifests-size 10M`, `--streamed-manifest-max-tar-size 100M`).

/// Parses a quantity into a whole number of units, rounded up as upstream's
/// `Quantity.ToDec().Value()` does: `10M` is 10,000,000, `1Gi` is 2^30, `1.5k` is 1,500,
/// `1e3` is 1,000. Decimal suffixes `n u m "" k M G T P E`, binary suffixes
/// `Ki Mi Gi Ti Pi Ei`, or an exponent `e<n>`/`E<n>`. Negative values and values beyond
/// `u64` are refused.
pub fn parse_quantity(value: &str) -> Option<u64> {
    let value = value.strip_prefix('+').unwrap_or(value);
    let number_len = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.len() + fraction.len() == 0
        || fraction.contains('.')
        || whole.len() + fraction.len() > 30
    {
        return None;
    }
    let mantissa: u128 = format!("{whole}{fraction}").parse().ok()?;
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (digits.parse().ok()?, 0)
        }
    };
    let scaled = mantissa.checked_mul(1u128 << exp2)?;
    let exp = exp10.checked_sub(i32::try_from(fraction.len()).ok()?)?;
    let result = if exp >= 0 {
        scaled.checked_mul(10u128.checked_pow(exp.unsigned_abs())?)?
    } else {
        match 10u128.checked_pow(exp.unsigned_abs()) {
            Some(divisor) => scaled.div_ceil(divisor),
            // Smaller than one unit: rounds up to 1 unless it is zero.
            None => u128::from(scaled > 0),
        }
    };
    u64::try_from(result).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_quantity;

    #[test]
    fn upstream_defaults_and_suffixes() {
        assert_eq!(parse_quantity("10M"), Some(10_000_000));
        assert_eq!(parse_quantity("100M"), Some(100_000_000));
        assert_eq!(parse_quantity("1G"), Some(1_000_000_000));
        assert_eq!(parse_quantity("1Gi"), Some(1 << 30));
        assert_eq!(parse_quantity("512Ki"), Some(512 << 10));
        assert_eq!(parse_quantity("1.5k"), Some(1500));
        assert_eq!(parse_quantity("0.5Mi"), Some(1 << 19));
        assert_eq!(parse_quantity("1e3"), Some(1000));
        assert_eq!(parse_quantity("2E+2"), Some(200));
        assert_eq!(parse_quantity("+7"), Some(7));
        assert_eq!(parse_quantity(".5k"), Some(500));
        assert_eq!(parse_quantity("0"), Some(0));
    }

    #[test]
    fn rounds_up_as_upstream() {
        assert_eq!(parse_quantity("1.0001k"), Some(1001));
        assert_eq!(parse_quantity("1m"), Some(1));
        assert_eq!(parse_quantity("1e-40"), Some(1));
        assert_eq!(parse_quantity("0n"), Some(0));
    }

    #[test]
    fn refuses_what_is_not_a_size() {
        for bad in [
            "", "M", "10MB", "10 M", "-1M", "1.2.3", "10K", "1e", "1e+", "ten", "1Ei0", "99E",
            "1e30",
        ] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }
}
