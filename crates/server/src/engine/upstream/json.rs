//! Go's `encoding/json` output (as upstream's Go, 1.22 and later, writes it) for the few shapes
//! upstream's manifest keys and values hold: objects with fields in Go struct order, strings
//! with Go's HTML-safe escaping, maps with sorted keys, and raw JSON compacted as Go compacts a
//! `MarshalJSON` result. Not a general serializer: callers spell out each struct.

use std::collections::BTreeMap;

/// Go's `json.Marshal` would fail (a `MarshalJSON` error): upstream then hashes no bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refused;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A JSON string as Go escapes it: `<`, `>`, `&`, U+2028 and U+2029 too.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Valid UTF-8 (a `str`): bytes from 0x80 belong to characters kept as they are, but
        // for U+2028 and U+2029 (E2 80 A8/A9).
        let (escape, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            0xe2 if bytes[i + 1] == 0x80 && matches!(bytes[i + 2], 0xa8 | 0xa9) => (
                if bytes[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                },
                3,
            ),
            0..=0x1f | b'<' | b'>' | b'&' => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
                i += 1;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        i += len;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Raw JSON (a `RawExtension`) as Go writes a `MarshalJSON` result: validated, whitespace
/// between tokens dropped, `<`, `>`, `&`, U+2028 and U+2029 escaped; nothing else changes.
pub(super) fn raw(out: &mut Vec<u8>, raw: &[u8]) -> Result<(), Refused> {
    serde_json::from_slice::<serde::de::IgnoredAny>(raw).map_err(|_| Refused)?;
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        i += 1;
        match c {
            b'<' | b'>' | b'&' => {
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]]);
            }
            0xe2 if raw.get(i) == Some(&0x80) && matches!(raw.get(i + 1), Some(0xa8 | 0xa9)) => {
                out.extend_from_slice(b"\\u202");
                out.push(HEX[usize::from(raw[i + 1] & 0xf)]);
                i += 2;
            }
            b' ' | b'\t' | b'\n' | b'\r' if !in_string => {}
            _ => out.push(c),
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if c == b'"' {
            in_string = true;
        }
    }
    Ok(())
}

/// An object being written; fields come out in the order they are added.
pub(super) struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    pub(super) fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Starts field `name` and returns the buffer to write its value to.
    pub(super) fn field(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(self.out, name);
        self.out.push(b':');
        self.out
    }

    pub(super) fn str(&mut self, name: &str, value: &str) {
        string(self.field(name), value);
    }

    /// A `string` field tagged `omitempty`.
    pub(super) fn str_omitempty(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.str(name, value);
        }
    }

    /// A `bool` field tagged `omitempty`.
    pub(super) fn bool_omitempty(&mut self, name: &str, value: bool) {
        if value {
            self.field(name).extend_from_slice(b"true");
        }
    }

    pub(super) fn int(&mut self, name: &str, value: i64) {
        self.field(name)
            .extend_from_slice(value.to_string().as_bytes());
    }

    /// A `[]string` field without `omitempty`: protobuf decoding leaves an empty one nil.
    pub(super) fn strings(&mut self, name: &str, values: &[String]) {
        strings(self.field(name), values);
    }

    /// A slice field tagged `omitempty`, its items written by `item`.
    pub(super) fn list_omitempty<T>(
        &mut self,
        name: &str,
        items: &[T],
        mut item: impl FnMut(&mut Vec<u8>, &T) -> Result<(), Refused>,
    ) -> Result<(), Refused> {
        if items.is_empty() {
            return Ok(());
        }
        let out = self.field(name);
        out.push(b'[');
        for (i, value) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item(out, value)?;
        }
        out.push(b']');
        Ok(())
    }

    /// A `[]string` field tagged `omitempty`.
    pub(super) fn strings_omitempty(&mut self, name: &str, values: &[String]) {
        if !values.is_empty() {
            self.strings(name, values);
        }
    }

    /// A `map[string]string` (or `map[string]bool`) field tagged `omitempty`.
    pub(super) fn map_omitempty<V: Scalar>(&mut self, name: &str, map: &BTreeMap<String, V>) {
        if !map.is_empty() {
            object(self.field(name), map);
        }
    }

    pub(super) fn close(self) {
        self.out.push(b'}');
    }

    /// The object `close` just ended in `out`, open again for more fields.
    pub(super) fn reopen(out: &'a mut Vec<u8>) -> Self {
        debug_assert_eq!(out.last(), Some(&b'}'));
        out.pop();
        Self { out, empty: false }
    }
}

/// A `[]string`: `null` when empty (nil), else the strings.
pub(super) fn strings(out: &mut Vec<u8>, values: &[String]) {
    if values.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, value);
    }
    out.push(b']');
}

/// A map as an object, keys in byte order as Go sorts them (`{}` when empty).
pub(super) fn object<V: Scalar>(out: &mut Vec<u8>, map: &BTreeMap<String, V>) {
    let mut o = Object::open(out);
    for (key, value) in map {
        let out = o.field(key);
        value.write(out);
    }
    o.close();
}

/// A map value.
pub(super) trait Scalar {
    fn write(&self, out: &mut Vec<u8>);
}

impl Scalar for String {
    fn write(&self, out: &mut Vec<u8>) {
        string(out, self);
    }
}

impl Scalar for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn compact(s: &[u8]) -> Result<String, Refused> {
        let mut out = Vec::new();
        raw(&mut out, s).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn strings_escape_as_go_does() {
        // Go's encoding/json (1.22+) output for these inputs.
        assert_eq!(quoted("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(quoted("q\"\\/"), r#""q\"\\/""#);
        assert_eq!(quoted("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(quoted("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\u{7f}\"");
        assert_eq!(quoted("x\u{2028}y\u{2029}é☃"), "\"x\\u2028y\\u2029é☃\"");
    }

    #[test]
    fn raw_json_is_compacted_and_html_escaped_only() {
        assert_eq!(
            compact(b" { \"a\" : [1, 2.50, -0e3],\n\t\"b<\": \"x > y & \xe2\x80\xa8 z \\\" \" } ")
                .unwrap(),
            r#"{"a":[1,2.50,-0e3],"b\u003c":"x \u003e y \u0026 \u2028 z \" "}"#
        );
        assert_eq!(compact(b"null").unwrap(), "null");
        for bad in [&b""[..], b"{", b"{} {}", b"{'a':1}"] {
            assert_eq!(compact(bad), Err(Refused), "{bad:?}");
        }
    }

    #[test]
    fn raw_json_is_valid_where_go_finds_it_valid() {
        // What Go's json.Marshal makes of these as a MarshalJSON result (None: an error).
        let cases: [(&[u8], Option<&[u8]>); 15] = [
            (b"1e400", Some(b"1e400")),
            (b"-", None),
            (b"01", None),
            (b"[1,]", None),
            (br#""\u00e9""#, Some(br#""\u00e9""#)),
            (br#""\ud800""#, Some(br#""\ud800""#)),
            (br#"{"a":1,"a":2}"#, Some(br#"{"a":1,"a":2}"#)),
            (b"\"\xff\"", Some(b"\"\xff\"")),
            (b"  true  ", Some(b"true")),
            (b"[1 2]", None),
            (br#""a\/b""#, Some(br#""a\/b""#)),
            (br#"{"<":">"}"#, Some(br#"{"\u003c":"\u003e"}"#)),
            (b"\"\t\"", None),
            (b"1.", None),
            (b"-0.0E+1", Some(b"-0.0E+1")),
        ];
        for (input, go) in cases {
            let mut out = Vec::new();
            let ours = raw(&mut out, input).ok().map(|()| out);
            assert_eq!(ours.as_deref(), go, "{:?}", String::from_utf8_lossy(input));
        }
    }
}
