use std::net::Ipv4Addr;

use super::*;

#[test]
fn ip_bands_follow_kep_3070() {
    // A /16 reserves the first 256 addresses for static use.
    let ips = IpAllocator::new("10.96.0.0/16").expect("cidr");
    for _ in 0..100 {
        let ip = ips.allocate_next().expect("free");
        let off = u32::from(ip) - u32::from(Ipv4Addr::new(10, 96, 0, 1));
        assert!(off >= 256, "dynamic address {ip} fell in the static band");
    }
    // A /28 has 16 addresses: no split, 14 usable.
    let small = IpAllocator::new("127.96.0.0/28").expect("cidr");
    let got: Vec<_> = (0..14)
        .map(|_| small.allocate_next().expect("free"))
        .collect();
    assert!(got.iter().all(|ip| *ip != Ipv4Addr::new(127, 96, 0, 0)));
    assert!(got.iter().all(|ip| *ip != Ipv4Addr::new(127, 96, 0, 15)));
    assert_eq!(small.allocate_next(), Err(AllocError::Full));
}

#[test]
fn specific_ips_are_checked() {
    let ips = IpAllocator::new("127.96.0.0/16").expect("cidr");
    assert_eq!(ips.first(), Ipv4Addr::new(127, 96, 0, 1));
    assert_eq!(ips.allocate(Ipv4Addr::new(127, 96, 0, 10)), Ok(()));
    assert_eq!(
        ips.allocate(Ipv4Addr::new(127, 96, 0, 10)),
        Err(AllocError::Allocated("IP"))
    );
    assert_eq!(
        ips.allocate(Ipv4Addr::new(127, 97, 0, 1)),
        Err(AllocError::NotInRange)
    );
    assert_eq!(
        ips.allocate(Ipv4Addr::new(127, 96, 0, 0)),
        Err(AllocError::NotInRange)
    );
    assert_eq!(
        ips.allocate(Ipv4Addr::new(127, 96, 255, 255)),
        Err(AllocError::NotInRange)
    );
    ips.release(Ipv4Addr::new(127, 96, 0, 10));
    assert!(!ips.is_allocated(Ipv4Addr::new(127, 96, 0, 10)));
}

#[test]
fn ports_follow_kep_3668() {
    let ports = PortAllocator::new(30000, 32767);
    for _ in 0..200 {
        let p = ports.allocate_next().expect("free");
        assert!(p >= 30086, "dynamic port {p} fell in the static band");
    }
    assert_eq!(ports.allocate(30080), Ok(()));
    assert_eq!(ports.allocate(30080), Err(AllocError::Allocated("port")));
    assert_eq!(ports.allocate(8080), Err(AllocError::NotInRange));
    ports.release(30080);
    assert_eq!(ports.allocate(30080), Ok(()));
    // A tiny range fills up and says so.
    let tiny = PortAllocator::new(40000, 40003);
    for _ in 0..4 {
        tiny.allocate_next().expect("free");
    }
    assert_eq!(tiny.allocate_next(), Err(AllocError::Full));
}

#[test]
fn parsing() {
    assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
    assert!(parse_port_range("3-1").is_err());
    assert_eq!(
        parse_cidr("10.96.3.4/12"),
        Ok((Ipv4Addr::new(10, 96, 0, 0), 12))
    );
    assert!(parse_cidr("fd00::/64").is_err());
}
