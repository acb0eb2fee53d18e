//! Every string value of a spec in the engine's marked form (references as markers), read
//! straight from the spec's `Serialize`: the strings `refs::visit_strings` finds in
//! [`super::Spec::to_marked_json`], without building that JSON value. Object keys are not
//! visited; the order is the fields' order, not the JSON object's sorted order.

use serde::ser::{self, Serialize};

use crate::canon::{Error, through};

/// A serializer passing each string to `f`; text made by `Display` (references, templates)
/// is formatted into `buf`.
pub(super) struct Visit<'a, F: FnMut(&str) + ?Sized> {
    pub f: &'a mut F,
    pub buf: &'a mut String,
}

impl<F: FnMut(&str) + ?Sized> Visit<'_, F> {
    fn inner<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(Visit {
            f: &mut *self.f,
            buf: &mut *self.buf,
        })
    }
}

/// Scalars other than strings hold no template.
macro_rules! skip {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, _: $t) -> Result<(), Error> { Ok(()) })*
    };
}

/// Arrays, objects and structs: the serializer itself visits their items.
macro_rules! open {
    ($($f:ident($($arg:ty),*)),*) => {
        $(fn $f(self, $(_: $arg),*) -> Result<Self, Error> { Ok(self) })*
    };
}

impl<F: FnMut(&str) + ?Sized> ser::Serializer for Visit<'_, F> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    skip!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_bytes: &[u8], serialize_unit_struct: &'static str);

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        (self.f)(v);
        Ok(())
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, v: &T) -> Result<(), Error> {
        use std::fmt::Write as _;
        self.buf.clear();
        write!(self.buf, "{v}").map_err(ser::Error::custom)?;
        (self.f)(self.buf);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Error> {
        self.serialize_str(v)
    }

    through!(
        serialize_some(),
        serialize_newtype_struct(&'static str),
        serialize_newtype_variant(&'static str, u32, &'static str)
    );
    open!(
        serialize_seq(Option<usize>),
        serialize_tuple(usize),
        serialize_tuple_struct(&'static str, usize),
        serialize_tuple_variant(&'static str, u32, &'static str, usize),
        serialize_map(Option<usize>),
        serialize_struct(&'static str, usize),
        serialize_struct_variant(&'static str, u32, &'static str, usize)
    );
}

/// Arrays and the values of objects and structs: each one visited.
macro_rules! compound {
    ($($tr:ident :: $f:ident($($key:ty)?)),*) => {$(
        impl<F: FnMut(&str) + ?Sized> ser::$tr for Visit<'_, F> {
            type Ok = ();
            type Error = Error;
            fn $f<T: Serialize + ?Sized>(&mut self, $(_: $key,)? v: &T) -> Result<(), Error> {
                self.inner(v)
            }
            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

compound!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(&'static str),
    SerializeStructVariant::serialize_field(&'static str)
);

impl<F: FnMut(&str) + ?Sized> ser::SerializeMap for Visit<'_, F> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.inner(v)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}
