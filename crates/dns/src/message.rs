//! From a packet to a reply: decoding (FORMERR for what does not decode), the checks on opcode,
//! class and question count, the zone's answer, EDNS0, and truncation for UDP.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::answer::{Outcome, Zone};
use crate::index::Index;

/// The UDP payload knet advertises in EDNS0 (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// What a packet needs.
#[derive(Debug)]
pub enum Handled {
    /// Send this back.
    Reply(Vec<u8>, ResponseCode),
    /// Not the zone's: ask upstream.
    Forward(Box<Message>),
    /// An ExternalName: the CNAME, then the target's records.
    Chase {
        /// The request.
        request: Box<Message>,
        /// The CNAME record.
        cname: Box<Record>,
        /// Its target.
        target: Name,
    },
    /// Not a query (a response, or shorter than a header): no answer.
    Drop,
}

/// A header-only error reply for a packet that did not decode, built from its raw header.
fn raw_error(packet: &[u8], rcode: ResponseCode) -> Handled {
    let opcode_bits = packet[2] & 0x78;
    let rd = packet[2] & 0x01;
    let mut out = vec![0u8; 12];
    out[0] = packet[0];
    out[1] = packet[1];
    out[2] = 0x80 | opcode_bits | rd;
    out[3] = 0x80 | (u16::from(rcode) as u8 & 0x0f);
    Handled::Reply(out, rcode)
}

/// The largest reply `request` may get over UDP.
pub fn udp_limit(request: &Message) -> usize {
    request
        .edns
        .as_ref()
        .map_or(512, |e| usize::from(e.max_payload().max(512)))
}

/// Encodes a reply to `request`; over UDP, one larger than `limit` is cut to its header and
/// question with TC set, so the client asks again over TCP.
pub fn reply(
    request: &Message,
    rcode: ResponseCode,
    authoritative: bool,
    (answers, authorities, additionals): (Vec<Record>, Vec<Record>, Vec<Record>),
    limit: Option<usize>,
) -> Vec<u8> {
    let mut m = Message::response(request.metadata.id, request.metadata.op_code);
    m.metadata.recursion_desired = request.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.authoritative = authoritative;
    m.metadata.checking_disabled = request.metadata.checking_disabled;
    m.metadata.response_code = rcode;
    m.queries = request.queries.clone();
    m.answers = answers;
    m.authorities = authorities;
    m.additionals = additionals;
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(edns);
    }
    let mut bytes = m.to_vec().unwrap_or_default();
    if let Some(limit) = limit
        && bytes.len() > limit
    {
        m.answers.clear();
        m.authorities.clear();
        m.additionals.clear();
        m.metadata.truncation = true;
        bytes = m.to_vec().unwrap_or_default();
    }
    bytes
}

/// The reply for an outcome of the zone (SOA in authority for NXDOMAIN and NODATA).
pub fn outcome_reply(
    zone: &Zone,
    request: &Message,
    outcome: Outcome,
    limit: Option<usize>,
) -> (Vec<u8>, ResponseCode) {
    match outcome {
        Outcome::Answer {
            rcode,
            answers,
            additionals,
        } => {
            let authority = if answers.is_empty() {
                vec![zone.soa()]
            } else {
                Vec::new()
            };
            (
                reply(
                    request,
                    rcode,
                    true,
                    (answers, authority, additionals),
                    limit,
                ),
                rcode,
            )
        }
        _ => {
            let rcode = ResponseCode::ServFail;
            (
                reply(request, rcode, false, Default::default(), limit),
                rcode,
            )
        }
    }
}

/// Handles one packet; `tcp` says whether it came over TCP (no truncation).
pub fn handle(zone: &Zone, index: &Index, packet: &[u8], tcp: bool) -> Handled {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return Handled::Drop;
    }
    let request = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return raw_error(packet, ResponseCode::FormErr),
    };
    let limit = (!tcp).then(|| udp_limit(&request));
    let plain = |rcode| {
        Handled::Reply(
            reply(&request, rcode, false, Default::default(), limit),
            rcode,
        )
    };
    if request.metadata.message_type != MessageType::Query {
        return Handled::Drop;
    }
    if request.metadata.op_code != OpCode::Query {
        return plain(ResponseCode::NotImp);
    }
    let [query] = request.queries.as_slice() else {
        return plain(ResponseCode::FormErr);
    };
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        return plain(ResponseCode::NotImp);
    }
    if matches!(
        query.query_type(),
        RecordType::AXFR | RecordType::IXFR | RecordType::OPT
    ) {
        return plain(ResponseCode::NotImp);
    }
    let outcome = zone.resolve(index, query.name(), query.query_type());
    match outcome {
        Outcome::Forward => Handled::Forward(Box::new(request)),
        Outcome::Chase { cname, target } => Handled::Chase {
            request: Box::new(request),
            cname,
            target,
        },
        o @ (Outcome::Answer { .. } | Outcome::ServFail) => {
            let (bytes, rcode) = outcome_reply(zone, &request, o, limit);
            Handled::Reply(bytes, rcode)
        }
    }
}
