//! The canonical plan JSON, written straight from the plan: no intermediate `serde_json::Value`
//! tree. [`Compact`] is a serde serializer that writes compact JSON with every object's keys
//! sorted (as a `BTreeMap` would order them: by bytes, the last of equal keys kept), so the
//! output is byte-identical to `serde_json::to_string(&serde_json::to_value(x))`. [`Sink`]
//! takes the compact document in pieces, hashes them (SHA-256) and, if asked, writes the same
//! document pretty-printed as `serde_json::to_string_pretty` would.

use serde::ser::{self, Serialize};
use sha2::{Digest, Sha256};

/// Serializer methods that serialize their content as it is (options, newtypes): one
/// definition for the serializers of this module and [`crate::kinds`]'s string visitor.
macro_rules! through {
    ($($f:ident($($arg:ty),*)),*) => {
        $(fn $f<T: Serialize + ?Sized>(self, $(_: $arg,)* v: &T) -> Result<(), Error> {
            v.serialize(self)
        })*
    };
}
pub(crate) use through;

/// Where the compact document goes: the hash, and the pretty text if wanted.
pub(crate) struct Sink {
    hash: Sha256,
    pretty: Option<Pretty>,
}

impl Sink {
    /// A sink that only hashes (`pretty == false`) or also pretty-prints.
    pub fn new(pretty: bool) -> Sink {
        Sink {
            hash: Sha256::new(),
            pretty: pretty.then(Pretty::default),
        }
    }

    /// Reserves room for `bytes` of pretty text (nothing when only hashing).
    pub fn reserve(&mut self, bytes: usize) {
        if let Some(p) = &mut self.pretty {
            p.out.reserve(bytes);
        }
    }

    /// Appends compact JSON (any split: a piece may end inside a string).
    pub fn write(&mut self, compact: &[u8]) {
        self.hash.update(compact);
        if let Some(p) = &mut self.pretty {
            p.write(compact);
        }
    }

    /// Serializes `value` with sorted keys into the sink; `buf` is scratch space.
    pub fn value<T: Serialize + ?Sized>(&mut self, value: &T, buf: &mut Vec<u8>) {
        buf.clear();
        value
            .serialize(Compact { out: buf })
            .expect("plan values always serialize");
        self.write(buf);
    }

    /// The hash of everything written so far, and the sink's pretty printer.
    pub fn finish(self) -> ([u8; 32], Option<Pretty>) {
        (self.hash.finalize().into(), self.pretty)
    }
}

/// Pretty-prints compact JSON fed in pieces, as serde_json's `PrettyFormatter` does: two
/// spaces per level, `": "` after keys, empty arrays and objects as `[]` and `{}`.
#[derive(Default)]
pub(crate) struct Pretty {
    pub out: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// An opening bracket was written and the next byte decides whether it is empty.
    opened: bool,
}

impl Pretty {
    pub fn write(&mut self, compact: &[u8]) {
        let mut start = 0;
        let mut i = 0;
        while i < compact.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                // Strings are most of the text: skip to the next quote or backslash.
                let Some(k) = compact[i..].iter().position(|&b| b == b'"' || b == b'\\') else {
                    break;
                };
                i += k;
                if compact[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                }
                i += 1;
                continue;
            }
            let b = compact[i];
            i += 1;
            // Copy the plain run before this byte (`compact[start..i - 1]`), then handle the
            // structural byte.
            if self.opened {
                self.opened = false;
                if b == b'}' || b == b']' {
                    self.out.push(b);
                    start = i;
                    continue;
                }
                self.depth += 1;
                self.newline();
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' | b',' | b':' | b'}' | b']' => {
                    self.out.extend_from_slice(&compact[start..i - 1]);
                    start = i;
                    match b {
                        b'{' | b'[' => {
                            self.out.push(b);
                            self.opened = true;
                        }
                        b',' => {
                            self.out.push(b',');
                            self.newline();
                        }
                        b':' => self.out.extend_from_slice(b": "),
                        _ => {
                            self.depth -= 1;
                            self.newline();
                            self.out.push(b);
                        }
                    }
                }
                _ => {}
            }
        }
        self.out.extend_from_slice(&compact[start..]);
    }

    fn newline(&mut self) {
        self.out.push(b'\n');
        for _ in 0..self.depth {
            self.out.extend_from_slice(b"  ");
        }
    }
}

/// Serializes compact JSON with sorted object keys into `out`.
pub(crate) struct Compact<'a> {
    pub out: &'a mut Vec<u8>,
}

/// serde_json's own writer for scalars (numbers, escaped strings): the bytes `to_value`
/// followed by `to_string` would give.
fn scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<(), Error> {
    serde_json::to_writer(out, v).map_err(|e| Error(e.to_string()))
}

/// `{"Variant":`, before the array or object of a tuple or struct variant (which closes the
/// outer object too).
fn variant_key(out: &mut Vec<u8>, variant: &str) -> Result<(), Error> {
    out.push(b'{');
    scalar(out, variant)?;
    out.push(b':');
    Ok(())
}

#[derive(Debug)]
pub(crate) struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// An array being written.
pub(crate) struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// For a tuple variant (`{"Variant":[...]}`): close the object too.
    close_variant: bool,
}

impl<'a> Seq<'a> {
    fn open(out: &'a mut Vec<u8>, close_variant: bool) -> Seq<'a> {
        out.push(b'[');
        Seq {
            out,
            first: true,
            close_variant,
        }
    }

    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        v.serialize(Compact {
            out: &mut *self.out,
        })
    }

    fn close(self) -> Result<(), Error> {
        self.out.push(b']');
        if self.close_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An object being written: entries go to `out` as they come, with their key and byte
/// range; [`Obj::close`] puts them in key order if they were not.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    /// Where the first entry starts (after `{`).
    start: usize,
    /// Key, and the range of `"key":value` in `out`.
    entries: Vec<(KeyText, usize, usize)>,
    /// A map's key written before its value: the key, and where its entry starts.
    pending: Option<(KeyText, usize)>,
    close_variant: bool,
}

/// The text of an object key, to sort by.
enum KeyText {
    /// A struct's field.
    Static(&'static str),
    /// The bytes `out[from..to]`: the key as written, with nothing escaped in it.
    Written(usize, usize),
    /// A key written with escapes, unescaped.
    Owned(String),
}

impl KeyText {
    fn bytes<'k>(&'k self, out: &'k [u8]) -> &'k [u8] {
        match self {
            KeyText::Static(k) => k.as_bytes(),
            KeyText::Written(from, to) => &out[*from..*to],
            KeyText::Owned(k) => k.as_bytes(),
        }
    }
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>, close_variant: bool) -> Obj<'a> {
        out.push(b'{');
        let start = out.len();
        Obj {
            out,
            start,
            entries: Vec::new(),
            pending: None,
            close_variant,
        }
    }

    /// Writes the separator before an entry; returns where the entry starts.
    fn begin(&mut self) -> usize {
        if !self.entries.is_empty() {
            self.out.push(b',');
        }
        self.out.len()
    }

    /// Writes a map's key (any key type [`Key`] takes) and keeps it for its value.
    fn key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        let from = self.begin();
        k.serialize(Key(&mut *self.out))?;
        let inner = (from + 1, self.out.len() - 1);
        let key = if self.out[inner.0..inner.1].contains(&b'\\') {
            KeyText::Owned(serde_json::from_slice(&self.out[from..]).map_err(ser::Error::custom)?)
        } else {
            KeyText::Written(inner.0, inner.1)
        };
        self.pending = Some((key, from));
        Ok(())
    }

    /// Writes the value of the key written last.
    fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let (key, from) = self
            .pending
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        self.out.push(b':');
        v.serialize(Compact {
            out: &mut *self.out,
        })?;
        self.entries.push((key, from, self.out.len()));
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        let from = self.begin();
        scalar(&mut *self.out, key)?;
        self.pending = Some((KeyText::Static(key), from));
        self.value(v)
    }

    fn close(mut self) -> Result<(), Error> {
        let Obj {
            out,
            entries,
            start,
            ..
        } = &mut self;
        let sorted = entries
            .windows(2)
            .all(|w| w[0].0.bytes(out) < w[1].0.bytes(out));
        if !sorted {
            // Stable sort, then keep the last of equal keys (as a map insert would).
            entries.sort_by(|a, b| a.0.bytes(out).cmp(b.0.bytes(out)));
            entries.reverse();
            entries.dedup_by(|later, earlier| later.0.bytes(out) == earlier.0.bytes(out));
            entries.reverse();
            // The sorted body is written after the unsorted one, then moved in its place.
            let end = out.len();
            for (i, (_, from, to)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_within(*from..*to);
            }
            out.copy_within(end.., *start);
            out.truncate(*start + out.len() - end);
        }
        self.out.push(b'}');
        if self.close_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// Object keys: strings, and numbers and chars as text (as `serde_json::to_value` does),
/// written as JSON strings.
struct Key<'a>(&'a mut Vec<u8>);

fn not_a_key<T>() -> Result<T, Error> {
    Err(Error("object keys must be strings".into()))
}

macro_rules! key_as_text {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<(), Error> { scalar(self.0, &v.to_string()) })*
    };
}

macro_rules! key_refused {
    ($($f:ident$(: $t:ty)?),*) => {
        $(fn $f(self $(, _: $t)?) -> Result<(), Error> { not_a_key() })*
    };
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    key_as_text!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char);

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        scalar(self.0, v)
    }
    key_refused!(serialize_f32: f32, serialize_f64: f64, serialize_bytes: &[u8], serialize_none,
        serialize_unit);

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        not_a_key()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        not_a_key()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Error> {
        scalar(self.0, v)
    }
    through!(serialize_newtype_struct(&'static str));
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        not_a_key()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        not_a_key()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        not_a_key()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        not_a_key()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        not_a_key()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        not_a_key()
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        not_a_key()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        not_a_key()
    }
}

/// A tuple or struct variant: `{"Variant":`, then the array or object, which closes the
/// outer object too.
macro_rules! opens_variant {
    ($($f:ident -> $container:ident),*) => {$(
        fn $f(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<$container<'a>, Error> {
            variant_key(self.out, variant)?;
            Ok($container::open(self.out, true))
        }
    )*};
}

macro_rules! scalars {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<(), Error> { scalar(self.out, &v) })*
    };
}

impl<'a> ser::Serializer for Compact<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Obj<'a>;
    type SerializeStruct = Obj<'a>;
    type SerializeStructVariant = Obj<'a>;

    scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8]);

    /// Text made by `Display` (references, templates) is escaped as it is formatted, with no
    /// string in between.
    fn collect_str<T: std::fmt::Display + ?Sized>(self, v: &T) -> Result<(), Error> {
        ser::Serializer::collect_str(&mut serde_json::Serializer::new(&mut *self.out), v)
            .map_err(|e| Error(e.to_string()))
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Error> {
        scalar(self.out, v)
    }
    through!(serialize_some(), serialize_newtype_struct(&'static str));
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        let mut obj = Obj::open(self.out, false);
        obj.field(variant, v)?;
        obj.close()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Error> {
        Ok(Seq::open(self.out, false))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    opens_variant!(serialize_tuple_variant -> Seq, serialize_struct_variant -> Obj);
    fn serialize_map(self, _: Option<usize>) -> Result<Obj<'a>, Error> {
        Ok(Obj::open(self.out, false))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Obj<'a>, Error> {
        Ok(Obj::open(self.out, false))
    }
}

/// The array traits all add an element; the object traits for structs all add a field.
macro_rules! seq_like {
    ($($tr:ident :: $f:ident),*) => {$(
        impl ser::$tr for Seq<'_> {
            type Ok = ();
            type Error = Error;
            fn $f<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                self.item(v)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! struct_like {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Obj<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                k: &'static str,
                v: &T,
            ) -> Result<(), Error> {
                self.field(k, v)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Obj<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.key(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.value(v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;

    fn compact<T: Serialize>(v: &T) -> String {
        let mut buf = Vec::new();
        v.serialize(Compact { out: &mut buf }).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn pretty(compact: &str, pieces: usize) -> String {
        let mut p = Pretty::default();
        let bytes = compact.as_bytes();
        let step = (bytes.len() / pieces.max(1)).max(1);
        for chunk in bytes.chunks(step) {
            p.write(chunk);
        }
        String::from_utf8(p.out).unwrap()
    }

    #[derive(Serialize)]
    struct Unsorted {
        zeta: u32,
        alpha: Option<&'static str>,
        #[serde(flatten)]
        inner: Inner,
        list: Vec<Inner>,
        map: HashMap<String, i64>,
        unit: E,
        tuple: E,
        strukt: E,
        float: f64,
        nan: f64,
    }

    #[derive(Serialize)]
    struct Inner {
        b: &'static str,
        a: bool,
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    enum E {
        Unit,
        Tuple(i32, String),
        Struct { y: i8, x: i8 },
    }

    #[test]
    fn matches_serde_json_through_a_value() {
        let v = Unsorted {
            zeta: 1,
            alpha: None,
            inner: Inner {
                b: "x\"\\\n\u{1}é",
                a: true,
            },
            list: vec![Inner { b: "", a: false }],
            map: [("k2".to_string(), 2), ("k1".to_string(), -1)].into(),
            unit: E::Unit,
            tuple: E::Tuple(3, "t".into()),
            strukt: E::Struct { y: 1, x: 2 },
            float: 1.5e300,
            nan: f64::NAN,
        };
        let expected = serde_json::to_string(&serde_json::to_value(&v).unwrap()).unwrap();
        assert_eq!(compact(&v), expected);
        let value = serde_json::to_value(&v).unwrap();
        let pretty_expected = serde_json::to_string_pretty(&value).unwrap();
        for pieces in [1, 2, 7, 1000] {
            assert_eq!(pretty(&expected, pieces), pretty_expected);
        }
    }

    #[test]
    fn empty_containers_stay_on_one_line() {
        let v = json!({"a": [], "b": {}, "c": [[], {}], "d": {"e": []}});
        let c = compact(&v);
        assert_eq!(pretty(&c, 3), serde_json::to_string_pretty(&v).unwrap());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z{}\\[\\]:,\"\\\\ é\n]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z{\"é]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_document_prints_as_serde_json_prints_it(v in json_value(), pieces in 1usize..20) {
            let c = compact(&v);
            prop_assert_eq!(&c, &serde_json::to_string(&v).unwrap());
            prop_assert_eq!(pretty(&c, pieces), serde_json::to_string_pretty(&v).unwrap());
        }

        #[test]
        fn keys_in_any_order_come_out_sorted(keys in prop::collection::vec("[a-c]{0,3}", 0..8)) {
            // A map serialized in insertion order, with repeated keys: the last value wins.
            struct Entries(Vec<(String, usize)>);
            impl Serialize for Entries {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    use serde::ser::SerializeMap;
                    let mut m = s.serialize_map(None)?;
                    for (k, v) in &self.0 {
                        m.serialize_entry(k, v)?;
                    }
                    m.end()
                }
            }
            let entries = Entries(keys.iter().cloned().zip(0..).collect());
            let expected: BTreeMap<String, usize> = entries.0.iter().cloned().collect();
            prop_assert_eq!(compact(&entries), serde_json::to_string(&expected).unwrap());
        }
    }
}
