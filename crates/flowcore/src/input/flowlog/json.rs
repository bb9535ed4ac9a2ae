//! One JSON line of a flow log, parsed without building a `serde_json::Value`: strings
//! borrow from the line (unless escaped), objects are lists of members (no map, no hashing:
//! a line's fields are few). A `Value` with `preserve_order` cost an `IndexMap` and an
//! allocation per member, most of the time of reading an `eve.json` (benches/README.md).
//!
//! Looked up the way `Value` was: numbers are `serde_json::Number`s (so they convert and
//! print as before), and a key given twice keeps its last value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A JSON value borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'a> J<'a> {
    /// Parses one JSON text (the whole of it, as `serde_json::from_str`).
    pub(crate) fn parse(text: &'a str) -> Result<J<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The member `k` of an object (the last, if given twice); `None` for anything else.
    pub(crate) fn get(&self, k: &str) -> Option<&J<'a>> {
        match self {
            J::Obj(m) => m.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[J<'a>]> {
        match self {
            J::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            J::Num(n) => n.as_u64(),
            _ => None,
        }
    }
}

/// A string or key, borrowed when the text has no escapes in it.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<J<'de>, E> {
                Ok(J::Bool(b))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<J<'de>, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<J<'de>, E> {
                Ok(J::Num(n.into()))
            }
            // As `Value` does: a float JSON cannot hold (none parses to one) is null.
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<J<'de>, E> {
                Ok(Number::from_f64(n).map_or(J::Null, J::Num))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<J<'de>, E> {
                Ok(J::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<J<'de>, E> {
                Ok(J::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<J<'de>, E> {
                Ok(J::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
                // Room for a flow event's members at once (a log line's objects are
                // small; growing from empty reallocated three times per line).
                let mut m = Vec::with_capacity(16);
                while let Some(Text(k)) = map.next_key()? {
                    m.push((k, map.next_value()?));
                }
                Ok(J::Obj(m))
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether a JSON text is an object whose (last) `event_type` is the string `"flow"`, and
/// an error where [`J::parse`] (and `Value`) would fail: the same parser calls, nothing
/// kept. An eve.json is mostly other events (dns, alert, tls, ...), which need checking
/// but not reading.
pub(crate) fn is_flow_event(text: &str) -> Result<bool, serde_json::Error> {
    serde_json::from_str::<Peek>(text).map(|p| matches!(p, Peek::Obj { flow: true }))
}

/// Any value, looked through: whether it is the string `flow`, or an object whose last
/// `event_type` is.
enum Peek {
    Flow,
    Obj { flow: bool },
    Other,
}

impl<'de> Deserialize<'de> for Peek {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Peek;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Peek, E> {
                Ok(if s == "flow" { Peek::Flow } else { Peek::Other })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Peek, A::Error> {
                while seq.next_element::<Peek>()?.is_some() {}
                Ok(Peek::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peek, A::Error> {
                let mut flow = false;
                while let Some(Text(k)) = map.next_key()? {
                    let v: Peek = map.next_value()?;
                    if k == "event_type" {
                        flow = matches!(v, Peek::Flow);
                    }
                }
                Ok(Peek::Obj { flow })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What `Value` would have made of it: members in first-seen order, the last value of
    /// a repeated key.
    fn to_value(j: &J) -> Value {
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Num(n) => Value::Number(n.clone()),
            J::Str(s) => Value::String(s.to_string()),
            J::Arr(a) => Value::Array(a.iter().map(to_value).collect()),
            J::Obj(m) => {
                let mut o = serde_json::Map::new();
                for (k, v) in m {
                    o.insert(k.to_string(), to_value(v));
                }
                Value::Object(o)
            }
        }
    }

    #[test]
    fn parses_what_value_parses_and_fails_where_it_fails() {
        let deep_ok = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let too_deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let texts = [
            r#"{"event_type":"flow","src_ip":"10.1.1.1","flow":{"start":"x","pkts_toserver":3}}"#,
            r#"{"event_type":"flow","event_type":"dns"}"#,
            r#"{"event_type":"dns","event_type":"flow"}"#,
            r#"{"event\u005ftype" : "fl\u006fw", "x":{"event_type":"dns"}}"#,
            r#"{"x":{"event_type":"flow"},"event_type":5}"#,
            r#"{"event_type":["flow"]}"#,
            r#"["flow"]"#,
            r#""flow""#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"a\u0041":"x\"y\\z\n","ok":"caf\u00e9 \ud83d\ude00"}"#,
            r#"{"n":-5,"f":1300475168.853899,"e":1e3,"big":18446744073709551615,"bigger":18446744073709551616,"neg0":-0.0}"#,
            r#"{"vlan":[20,30],"tcp":{"tcp_flags_ts":"1b"},"x":null,"t":true,"f":false,"s":[]}"#,
            r#"[1,"two",{"three":3}]"#,
            "5",
            r#""just a string""#,
            "  {\"ws\" : 1 }  ",
            &deep_ok,
            // Failures: the same message.
            &too_deep,
            r#"{"a":1e400}"#,
            r#"{"a":1,}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":1} trailing"#,
            r#"{a:1}"#,
            r#"{"a":01}"#,
            "",
            "{",
            r#"{"a":nul}"#,
        ];
        for t in texts {
            let want = serde_json::from_str::<Value>(t).map_err(|e| e.to_string());
            let got = J::parse(t).map(|j| to_value(&j)).map_err(|e| e.to_string());
            assert_eq!(got, want, "{t}");
            // The peek fails where they fail, with the same message.
            let flow = want
                .as_ref()
                .map(|v| v.get("event_type") == Some(&Value::from("flow")));
            let peek = is_flow_event(t).map_err(|e| e.to_string());
            assert_eq!(peek, flow.map_err(Clone::clone), "{t}");
        }
    }

    #[test]
    fn borrows_unescaped_strings_and_keys() {
        let j = J::parse(r#"{"k":"plain","e\u0065":"esc\"aped"}"#).unwrap();
        let J::Obj(m) = &j else { panic!() };
        assert!(matches!(
            &m[0],
            (Cow::Borrowed("k"), J::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(&m[1].0, Cow::Owned(k) if k == "ee"));
        assert_eq!(j.get("ee").and_then(J::as_str), Some("esc\"aped"));
        assert_eq!(j.get("missing"), None);
        assert_eq!(J::parse("[1]").unwrap().get("k"), None);
    }
}
