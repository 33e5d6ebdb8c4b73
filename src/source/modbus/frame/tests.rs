use super::*;
use crate::site::Table::*;

fn read(table: Table, address: u16, count: u16) -> Request {
    Request::Read(Read {
        table,
        address,
        count,
    })
}

#[test]
fn encodes_requests_as_the_specification_examples() {
    let cases: &[(Request, &[u8])] = &[
        (read(Holding, 0x006B, 3), &[0x03, 0x00, 0x6B, 0x00, 0x03]),
        (read(Coil, 0x0013, 19), &[0x01, 0x00, 0x13, 0x00, 0x13]),
        (read(Discrete, 0x00C4, 22), &[0x02, 0x00, 0xC4, 0x00, 0x16]),
        (read(Input, 0x0008, 1), &[0x04, 0x00, 0x08, 0x00, 0x01]),
        (
            Request::WriteCoil {
                address: 0x00AC,
                on: true,
            },
            &[0x05, 0x00, 0xAC, 0xFF, 0x00],
        ),
        (
            Request::WriteCoil {
                address: 1,
                on: false,
            },
            &[0x05, 0x00, 0x01, 0x00, 0x00],
        ),
        (
            Request::WriteRegister {
                address: 0x0001,
                value: 0x0003,
            },
            &[0x06, 0x00, 0x01, 0x00, 0x03],
        ),
        (
            Request::WriteRegisters {
                address: 0x0001,
                values: vec![0x000A, 0x0102],
            },
            &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
        ),
    ];
    for (req, bytes) in cases {
        let mut out = [0u8; MAX_PDU];
        let n = req.encode_pdu(&mut out);
        assert_eq!(&out[..n], *bytes, "{req:?}");
    }
}

#[test]
fn frames_tcp_and_rtu() {
    let req = read(Holding, 0x006B, 3);
    let mut buf = [0u8; MAX_ADU];
    let n = encode_tcp(0x0102, 0x11, &req, &mut buf);
    assert_eq!(
        &buf[..n],
        &[
            0x01, 0x02, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03
        ]
    );
    let n = encode_rtu(0x11, &req, &mut buf);
    assert_eq!(&buf[..n], &[0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87]);
    assert_eq!(check_rtu(&buf[..n], 0x11), Ok(&buf[1..n - 2]));
}

#[test]
fn crc_matches_known_frames() {
    let cases: &[(&[u8], u16)] = &[
        (&[0x01, 0x03, 0x00, 0x00, 0x00, 0x01], 0x0A84),
        (&[0x11, 0x03, 0x00, 0x6B, 0x00, 0x03], 0x8776),
        (&[], 0xFFFF),
    ];
    for &(bytes, crc) in cases {
        assert_eq!(crc16(bytes), crc, "{bytes:02X?}");
    }
}

fn malformed() -> Result<Answer, FrameError> {
    Err(FrameError::Malformed(String::new()))
}

#[test]
fn parses_answers_and_checks_them_against_the_request() {
    let holding = read(Holding, 0x006B, 3);
    let coils = read(Coil, 0x0013, 19);
    let write = Request::WriteRegister {
        address: 1,
        value: 3,
    };
    let cases: Vec<(&Request, &[u8], Result<Answer, FrameError>)> = vec![
        (
            &holding,
            &[0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64],
            Ok(Answer::Words(vec![0x022B, 0x0000, 0x0064])),
        ),
        (
            &coils,
            &[0x01, 0x03, 0xCD, 0x6B, 0x05],
            Ok(Answer::Bits(
                [
                    1, 0, 1, 1, 0, 0, 1, 1, /**/ 1, 1, 0, 1, 0, 1, 1, 0, /**/ 1, 0, 1,
                ]
                .iter()
                .map(|&b| b == 1)
                .collect(),
            )),
        ),
        (&holding, &[0x83, 0x02], Err(FrameError::Exception(2))),
        (&write, &[0x86, 0x04], Err(FrameError::Exception(4))),
        (&write, &[0x06, 0x00, 0x01, 0x00, 0x03], Ok(Answer::Written)),
        // A wrong function code means the answer is someone else's.
        (
            &holding,
            &[0x04, 0x02, 0x00, 0x01],
            Err(FrameError::Desync(String::new())),
        ),
        // Wrong lengths and counts are the device's mistake.
        (&holding, &[0x03, 0x04, 0x00, 0x01, 0x00, 0x02], malformed()),
        (
            &holding,
            &[0x03, 0x04, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64],
            malformed(),
        ),
        (&holding, &[0x83], malformed()),
        (&holding, &[], malformed()),
        (&write, &[0x06, 0x00, 0x01, 0x00, 0x04], malformed()),
    ];
    for (req, pdu, expected) in cases {
        // Messages are for people; compare the kind of error and the values.
        let got = req.parse_answer(pdu).map_err(|e| match e {
            FrameError::Malformed(_) => FrameError::Malformed(String::new()),
            FrameError::Desync(_) => FrameError::Desync(String::new()),
            e => e,
        });
        assert_eq!(got, expected, "{req:?} ← {pdu:02X?}");
    }
}

#[test]
fn mbap_header_must_match_the_request() {
    let ok = [0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0x05];
    assert_eq!(check_mbap(&ok, 7, 5), Ok(8));
    let bad: &[[u8; MBAP_LEN]] = &[
        [0x00, 0x06, 0x00, 0x00, 0x00, 0x09, 0x05], // stale transaction id
        [0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0x04], // another unit
        [0x00, 0x07, 0x00, 0x01, 0x00, 0x09, 0x05], // not Modbus
        [0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x05], // too short for a PDU
        [0x00, 0x07, 0x00, 0x00, 0x01, 0x00, 0x05], // longer than any ADU
    ];
    for h in bad {
        assert!(
            matches!(check_mbap(h, 7, 5), Err(FrameError::Desync(_))),
            "{h:02X?}"
        );
    }
}

#[test]
fn rtu_frames_are_checked_for_crc_and_unit() {
    let mut buf = [0u8; MAX_ADU];
    let n = encode_rtu(3, &read(Input, 0, 1), &mut buf);
    let frame = buf[..n].to_vec();
    assert!(check_rtu(&frame, 3).is_ok());
    assert!(matches!(check_rtu(&frame, 4), Err(FrameError::Desync(_))));
    let mut flipped = frame.clone();
    flipped[2] ^= 0x10;
    assert!(matches!(
        check_rtu(&flipped, 3),
        Err(FrameError::Malformed(_))
    ));
    assert!(matches!(
        check_rtu(&frame[..3], 3),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn rtu_answer_length_is_known_from_its_head() {
    let r = read(Holding, 0, 2);
    let w = Request::WriteCoil {
        address: 0,
        on: true,
    };
    let cases: &[(&Request, &[u8], Option<usize>)] = &[
        (&r, &[1], None),
        (&r, &[1, 3], None),
        (&r, &[1, 3, 4], Some(6)),
        (&r, &[1, 0x83], Some(3)),
        (&r, &[1, 0x83, 2], Some(2)),
        (&w, &[1, 5], Some(6)),
        (&w, &[1, 0x85], Some(3)),
    ];
    for &(req, head, expected) in cases {
        assert_eq!(rtu_remaining(req, head), expected, "{req:?} {head:02X?}");
    }
}
