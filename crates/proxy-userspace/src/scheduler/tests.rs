use super::*;

fn eps(spec: &[(u32, usize)]) -> Vec<Candidate> {
    spec.iter()
        .enumerate()
        .map(|(i, &(weight, active))| Candidate {
            addr: format!("10.0.0.{}:80", i + 1).parse().expect("addr"),
            weight,
            active,
        })
        .collect()
}

fn conn(client: &str) -> Conn {
    Conn {
        client: client.parse().expect("client"),
        frontend: "10.96.0.1:80".parse().expect("frontend"),
    }
}

fn kind(name: &str) -> SchedulerKind {
    name.parse().expect("scheduler name")
}

#[test]
fn every_name_parses_and_unknown_ones_are_refused() {
    for name in NAMES {
        assert!(name.parse::<SchedulerKind>().is_ok(), "{name}");
    }
    let err = "fastest".parse::<SchedulerKind>().expect_err("unknown");
    assert!(err.to_string().contains("one of: rr, wrr"), "{err}");
}

#[test]
fn rr_takes_each_endpoint_in_turn() {
    let e = eps(&[(1, 0), (1, 0), (1, 0)]);
    let s = kind("rr").build(&e);
    let picks: Vec<usize> = (0..7).map(|_| s.select(&conn("1.1.1.1:1"), &e)).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn wrr_picks_in_proportion_to_weight() {
    let e = eps(&[(3, 0), (1, 0)]);
    let s = kind("wrr").build(&e);
    let picks: Vec<usize> = (0..8).map(|_| s.select(&conn("1.1.1.1:1"), &e)).collect();
    assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
    // Spread out, not in a burst: never three of the light one's turns in a row missing.
    assert_eq!(picks[..4].iter().filter(|&&i| i == 1).count(), 1);
}

#[test]
fn least_connection_formulas() {
    let c = conn("1.1.1.1:1");
    // lc: fewest connections, whatever the weight.
    let e = eps(&[(5, 3), (1, 2), (1, 4)]);
    assert_eq!(kind("lc").build(&e).select(&c, &e), 1);
    // wlc: fewest per weight: 3/5 < 2/1.
    assert_eq!(kind("wlc").build(&e).select(&c, &e), 0);
    // sed: (C+1)/W: 4/5, 3/1, 5/1.
    assert_eq!(kind("sed").build(&e).select(&c, &e), 0);
    // sed differs from wlc when an idle light endpoint meets a busy heavy one:
    // wlc: 0/1 vs 1/10 → the idle one; sed: 1/1 vs 2/10 → the heavy one.
    let e = eps(&[(1, 0), (10, 1)]);
    assert_eq!(kind("wlc").build(&e).select(&c, &e), 0);
    assert_eq!(kind("sed").build(&e).select(&c, &e), 1);
    // nq: an idle endpoint wins outright, else as sed.
    assert_eq!(kind("nq").build(&e).select(&c, &e), 0);
    let e = eps(&[(1, 1), (10, 1)]);
    assert_eq!(kind("nq").build(&e).select(&c, &e), 1);
}

#[test]
fn sh_pins_by_source_and_dh_by_destination() {
    let e = eps(&[(1, 0), (1, 0), (1, 0)]);
    let sh = kind("sh").build(&e);
    let dh = kind("dh").build(&e);
    let mut sources = std::collections::BTreeSet::new();
    for i in 0..50 {
        let c = conn(&format!("192.0.2.{i}:{}", 1000 + i));
        let first = sh.select(&c, &e);
        // Same source address, other port: same endpoint.
        let again = Conn {
            client: format!("192.0.2.{i}:9").parse().expect("addr"),
            ..c
        };
        assert_eq!(sh.select(&again, &e), first);
        sources.insert(first);
        // dh ignores the client: one frontend, one endpoint.
        assert_eq!(dh.select(&c, &e), dh.select(&conn("198.51.100.1:5"), &e));
    }
    assert_eq!(sources.len(), 3, "50 sources spread over all endpoints");
}

#[test]
fn mh_keeps_most_keys_when_an_endpoint_goes() {
    let e = eps(&[(1, 0), (1, 0), (1, 0), (1, 0)]);
    let before = kind("mh").build(&e);
    let fewer: Vec<Candidate> = e[..3].to_vec();
    let after = kind("mh").build(&fewer);
    let (mut kept, mut moved_from_live) = (0, 0);
    let total = 2000;
    for i in 0..total {
        let c = conn(&format!("10.1.{}.{}:{}", i / 250, i % 250, 2000 + i));
        let (a, b) = (before.select(&c, &e), after.select(&c, &fewer));
        if e[a].addr == fewer[b].addr {
            kept += 1;
        } else if a < 3 {
            moved_from_live += 1;
        }
    }
    // About a quarter of the keys were on the removed endpoint and must move; of the rest,
    // Maglev moves only a few.
    assert!(kept > total * 65 / 100, "kept {kept} of {total}");
    assert!(
        moved_from_live < total / 20,
        "{moved_from_live} keys moved between live endpoints"
    );
}

#[test]
fn lblc_keeps_locality_until_overloaded() {
    let c = conn("192.0.2.7:1234");
    let s = kind("lblc").build(&eps(&[(1, 0), (1, 0), (1, 0)]));
    // First: as wlc (all idle → the first).
    let e = eps(&[(1, 0), (1, 0), (1, 0)]);
    let home = s.select(&c, &e);
    // Busier endpoints elsewhere do not move it while it is not overloaded.
    let e2 = eps(&[(1, 1), (1, 0), (1, 0)]);
    assert_eq!(s.select(&c, &e2), home);
    // Overloaded (2 connections > weight 1, others idle): moves to the least loaded, and stays.
    let e3 = eps(&[(1, 2), (1, 1), (1, 0)]);
    let moved = s.select(&c, &e3);
    assert_eq!(moved, 2);
    assert_eq!(s.select(&c, &eps(&[(1, 0), (1, 0), (1, 0)])), 2);
}

#[test]
fn lblcr_grows_its_set_when_all_members_are_overloaded() {
    let c = conn("192.0.2.8:1");
    let s = kind("lblcr").build(&eps(&[(1, 0), (1, 0), (1, 0)]));
    assert_eq!(s.select(&c, &eps(&[(1, 0), (1, 0), (1, 0)])), 0);
    // Member 0 overloaded: endpoint 1 joins.
    assert_eq!(s.select(&c, &eps(&[(1, 2), (1, 0), (1, 1)])), 1);
    // Now the set is {0, 1}: the least loaded member is used even if a non-member is idle.
    assert_eq!(s.select(&c, &eps(&[(1, 1), (1, 0), (1, 0)])), 1);
    assert_eq!(s.select(&c, &eps(&[(1, 0), (1, 1), (1, 0)])), 0);
}
