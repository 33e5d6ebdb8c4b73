//! The Sparkplug B payload (Sparkplug 3.0, the `org.eclipse.tahu.protobuf` package's
//! `Payload`), written from the specification as `prost` messages: no `protoc` and no
//! build script. Only what the gateway sends or reads is here; a field we do not know
//! (data sets, templates, metadata) is skipped on decoding, as protobuf allows.

/// `Payload`: one Sparkplug message body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Milliseconds since the Unix epoch when the message was made.
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// 0–255, one more for every message of the edge node after its NBIRTH (0);
    /// absent in NDEATH.
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// `Payload.Metric`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// The number a DATA message may use in place of the name declared in the BIRTH.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// A [`DataType`] as its number.
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// Tag 8 is `MetaData`, which we neither send nor read.
    #[prost(message, optional, tag = "9")]
    pub properties: Option<PropertySet>,
    #[prost(oneof = "Value", tags = "10, 11, 12, 13, 14, 15, 16")]
    pub value: Option<Value>,
}

/// `Payload.Metric.value` (tags 17–19, data set, template and extension, left out).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// Int8/16/32 (two's complement) and UInt8/16/32.
    #[prost(uint32, tag = "10")]
    Int(u32),
    /// Int64 (two's complement), UInt64 and DateTime.
    #[prost(uint64, tag = "11")]
    Long(u64),
    #[prost(float, tag = "12")]
    Float(f32),
    #[prost(double, tag = "13")]
    Double(f64),
    #[prost(bool, tag = "14")]
    Boolean(bool),
    /// String, Text and UUID.
    #[prost(string, tag = "15")]
    String(String),
    #[prost(bytes = "vec", tag = "16")]
    Bytes(Vec<u8>),
}

/// `Payload.PropertySet`: keys and values side by side (we send `engUnit`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

/// `Payload.PropertyValue` (nested property sets, tags 9–10, left out).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    #[prost(uint32, optional, tag = "1")]
    pub r#type: Option<u32>,
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    #[prost(oneof = "PropertyKind", tags = "3, 4, 5, 6, 7, 8")]
    pub value: Option<PropertyKind>,
}

/// `Payload.PropertyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PropertyKind {
    #[prost(uint32, tag = "3")]
    Int(u32),
    #[prost(uint64, tag = "4")]
    Long(u64),
    #[prost(float, tag = "5")]
    Float(f32),
    #[prost(double, tag = "6")]
    Double(f64),
    #[prost(bool, tag = "7")]
    Boolean(bool),
    #[prost(string, tag = "8")]
    String(String),
}

/// `DataType`: the scalar types of the specification (the array types, 22–34, are not
/// used here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    Unknown = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    UInt8 = 5,
    UInt16 = 6,
    UInt32 = 7,
    UInt64 = 8,
    Float = 9,
    Double = 10,
    Boolean = 11,
    String = 12,
    DateTime = 13,
    Text = 14,
    Uuid = 15,
    DataSet = 16,
    Bytes = 17,
    File = 18,
    Template = 19,
    PropertySet = 20,
    PropertySetList = 21,
}

impl DataType {
    /// As the `datatype` field carries it.
    pub fn code(self) -> u32 {
        self as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn fields_go_on_the_wire_with_the_specification_s_tags() {
        let p = Payload {
            timestamp: Some(1),
            metrics: vec![Metric {
                alias: Some(2),
                datatype: Some(DataType::Boolean.code()),
                value: Some(Value::Boolean(true)),
                ..Metric::default()
            }],
            seq: Some(255),
            ..Payload::default()
        };
        let bytes = p.encode_to_vec();
        // timestamp (1, varint) = 1; metrics (2, len 6): alias (2) = 2, datatype (4) = 11,
        // boolean_value (14) = 1; seq (3, varint) = 255 as two bytes.
        assert_eq!(
            bytes,
            [
                0x08, 1, 0x12, 6, 0x10, 2, 0x20, 11, 0x70, 1, 0x18, 0xff, 0x01
            ]
        );
        assert_eq!(Payload::decode(bytes.as_slice()).unwrap(), p);
    }

    #[test]
    fn unknown_fields_such_as_a_template_are_skipped() {
        // A metric with a name and a template value (tag 18, an empty message).
        let p = Payload::decode(&[0x12, 6, 0x0a, 1, b'x', 0x92, 0x01, 0x00][..]).unwrap();
        assert_eq!(p.metrics[0].name.as_deref(), Some("x"));
        assert_eq!(p.metrics[0].value, None);
    }
}
