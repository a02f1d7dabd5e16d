//! Calls to any tally.v1 RPC with messages built at run time from the compiled file
//! descriptor (prost-reflect), so that tests can walk every RPC without naming each one.
use crate::helpers::{TestApp, with_key};
use chrono::NaiveDate;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, Value};
use std::str::FromStr;
use std::time::Duration;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

/// A tonic codec for messages known only by their descriptor.
#[derive(Clone)]
pub struct DynCodec(pub MessageDescriptor);

/// Encodes any dynamic message.
pub struct DynEncoder;

/// Decodes messages of one type.
pub struct DynDecoder(MessageDescriptor);

impl Codec for DynCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynEncoder;
    type Decoder = DynDecoder;

    fn encoder(&mut self) -> DynEncoder {
        DynEncoder
    }

    fn decoder(&mut self) -> DynDecoder {
        DynDecoder(self.0.clone())
    }
}

impl Encoder for DynEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for DynDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// A google.type.Date message of a calendar date.
pub fn date(d: NaiveDate, desc: &MessageDescriptor) -> DynamicMessage {
    use chrono::Datelike;
    let mut m = DynamicMessage::new(desc.clone());
    m.set_field_by_name("year", Value::I32(d.year()));
    m.set_field_by_name("month", Value::I32(d.month() as i32));
    m.set_field_by_name("day", Value::I32(d.day() as i32));
    m
}

/// What a call returned: a unary response, or the open stream of a streaming method.
pub enum Reply {
    Unary(DynamicMessage),
    Stream(tonic::Streaming<DynamicMessage>),
}

/// Sends `message` to `method` with `key` (or none).
pub async fn send(
    app: &TestApp,
    method: &MethodDescriptor,
    message: DynamicMessage,
    key: Option<&str>,
) -> Result<Reply, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    let path = PathAndQuery::from_str(&format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .unwrap();
    let request = match key {
        Some(key) => with_key(message, key),
        None => tonic::Request::new(message),
    };
    let codec = DynCodec(method.output());
    if method.is_server_streaming() {
        let response = grpc.server_streaming(request, path, codec).await?;
        Ok(Reply::Stream(response.into_inner()))
    } else {
        let response = grpc.unary(request, path, codec).await?;
        Ok(Reply::Unary(response.into_inner()))
    }
}

/// Calls a method with `key` (or none); the result code and the response as text.
pub async fn call(
    app: &TestApp,
    method: &MethodDescriptor,
    message: DynamicMessage,
    key: Option<&str>,
) -> (Code, String) {
    match send(app, method, message, key).await {
        Ok(Reply::Unary(response)) => (Code::Ok, format!("{response:?}")),
        Ok(Reply::Stream(mut stream)) => {
            // A quiet stream is an expected outcome; wait a little for a first message.
            let first = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;
            (Code::Ok, format!("{first:?}"))
        }
        Err(status) => (status.code(), status.message().to_string()),
    }
}

/// Every RPC of every tally.v1 service, from the compiled descriptor.
pub fn methods() -> Vec<MethodDescriptor> {
    let pool = DescriptorPool::decode(tally::proto::FILE_DESCRIPTOR_SET).unwrap();
    let methods: Vec<MethodDescriptor> = pool
        .services()
        .filter(|s| s.package_name() == "tally.v1")
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect();
    assert!(
        methods.len() > 40,
        "the descriptor lists every RPC ({})",
        methods.len()
    );
    methods
}

/// A typed message as a dynamic message of the same type.
pub fn dynamic<M: Message>(message: &M, desc: &MessageDescriptor) -> DynamicMessage {
    DynamicMessage::decode(desc.clone(), message.encode_to_vec().as_slice()).unwrap()
}
