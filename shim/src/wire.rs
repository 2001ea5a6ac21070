//! A protobuf message split into its fields, for the few messages containerd sends the shim
//! whose generated code the crates lack (bootstrap parameters, runtime options). Unknown
//! fields are kept (callers skip them); what is not protobuf is an error.

use protobuf::rt::WireType;
use protobuf::CodedInputStream;

/// One field of a message, as it was on the wire.
pub struct Field {
    /// The field number.
    pub number: u32,
    value: Value,
}

enum Value {
    Varint(u64),
    Bytes(Vec<u8>),
    /// Fixed32, fixed64 or (where allowed) a group: no field the shim reads has them.
    Skipped,
}

impl Field {
    /// The payload of a length-delimited field, None for another wire type.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value of a varint field, None for another wire type.
    pub fn varint(&self) -> Option<u64> {
        match self.value {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }

    /// The payload of field `name`, which must be length-delimited.
    pub fn bytes(&self, name: &str) -> Result<&[u8], String> {
        self.as_bytes().ok_or_else(|| self.wrong_type(name))
    }

    /// Field `name` as a string (length-delimited, UTF-8).
    pub fn string(&self, name: &str) -> Result<String, String> {
        String::from_utf8(self.bytes(name)?.to_vec())
            .map_err(|_| format!("field {name} ({}) is not UTF-8", self.number))
    }

    /// Field `name` as a proto3 int32 (a negative value is sign-extended to 64 bits).
    pub fn int32(&self, name: &str) -> Result<i32, String> {
        self.varint()
            .map(|v| v as i64 as i32)
            .ok_or_else(|| self.wrong_type(name))
    }

    fn wrong_type(&self, name: &str) -> String {
        format!("field {name} ({}) has the wrong wire type", self.number)
    }
}

/// Whether a group (proto2's start/end group wire types) is an error or skipped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// containerd never sends them in the message: one is taken for garbage.
    Refuse,
    /// Skipped like any unknown field, as protobuf readers do.
    Skip,
}

/// Splits `data` into its fields (unknown ones included).
pub fn fields(data: &[u8], groups: Groups) -> Result<Vec<Field>, String> {
    let mut input = CodedInputStream::from_bytes(data);
    let mut out = Vec::new();
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(|e| e.to_string())? {
        let number = tag >> 3;
        if number == 0 {
            return Err("field number 0".into());
        }
        let wire = WireType::new(tag & 7).ok_or_else(|| format!("wire type {}", tag & 7))?;
        let value = match wire {
            WireType::Varint => {
                Value::Varint(input.read_raw_varint64().map_err(|e| e.to_string())?)
            }
            WireType::LengthDelimited => {
                Value::Bytes(input.read_bytes().map_err(|e| e.to_string())?)
            }
            WireType::StartGroup | WireType::EndGroup if groups == Groups::Refuse => {
                return Err(format!("field {number}: groups are not used by containerd"))
            }
            WireType::Fixed32 | WireType::Fixed64 | WireType::StartGroup | WireType::EndGroup => {
                input.skip_field(wire).map_err(|e| e.to_string())?;
                Value::Skipped
            }
        };
        out.push(Field { number, value });
    }
    Ok(out)
}
