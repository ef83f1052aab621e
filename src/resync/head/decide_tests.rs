//! The head poll's pure decisions, table-driven.
use super::*;

fn ids(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn state(seen: &str, count: u64) -> HeadState {
    HeadState {
        seen: ids(seen),
        count,
        pass_wanted: None,
        pending: Vec::new(),
        burst: false,
    }
}

fn head(uuids: &str, count: u64, more: bool) -> Head {
    Head {
        uuids: ids(uuids),
        count,
        more,
    }
}

#[test]
fn vanished_table() {
    // (name, last state, head now, want vanished)
    let cases: Vec<(&str, Option<HeadState>, Head, &str)> = vec![
        ("first poll", None, head("c b a", 3, false), ""),
        (
            "nothing changed",
            Some(state("c b a", 3)),
            head("c b a", 3, false),
            "",
        ),
        ("one deleted", Some(state("c b a", 3)), head("c a", 2, false), "b"),
        (
            "pushed below by new ones",
            Some(state("c b a", 10)),
            head("e d c", 12, true),
            "b a",
        ),
        (
            "deleted and pushed",
            Some(state("c b a", 10)),
            head("d c", 10, true),
            "b a",
        ),
        (
            "overflow: the pass looks",
            Some(state("c b a", 10)),
            head("h g f", 16, true),
            "",
        ),
        ("all gone", Some(state("b a", 2)), head("", 0, false), "b a"),
    ];
    for (name, prev, now, want) in cases {
        assert_eq!(decide(prev.as_ref(), &now).vanished, ids(want), "{name}");
    }
}

#[test]
fn decide_table() {
    // (name, last state, head now, want reconciled, want pass)
    let shrunk = |expected, count| Some(Why::Shrunk { expected, count });
    let grew = |expected, count| Some(Why::Grew { expected, count });
    type Case = (&'static str, Option<HeadState>, Head, &'static str, Option<Why>);
    let cases: Vec<Case> = vec![
        (
            "first poll: the whole page, no pass",
            None,
            head("c b a", 3, false),
            "c b a",
            None,
        ),
        ("first poll of an empty list", None, head("", 0, false), "", None),
        (
            "nothing new",
            Some(state("c b a", 3)),
            head("c b a", 3, false),
            "",
            None,
        ),
        (
            "nothing new, more pages",
            Some(state("e d c", 10)),
            head("e d c", 10, true),
            "",
            None,
        ),
        (
            "new at the top",
            Some(state("c b a", 3)),
            head("e d c b a", 5, false),
            "e d",
            None,
        ),
        (
            "new at the top, the bottom pushed off the page",
            Some(state("c b a", 10)),
            head("e d c", 12, true),
            "e d",
            None,
        ),
        (
            // x got its position (pk) before c but committed after c was seen.
            "late commit below seen objects",
            Some(state("c b a", 3)),
            head("c x b a", 4, false),
            "x",
            None,
        ),
        (
            "late commit and a new one at the top",
            Some(state("c b a", 10)),
            head("d c x", 12, true),
            "d x",
            None,
        ),
        (
            "count dropped: a delete",
            Some(state("c b a", 3)),
            head("c a", 2, false),
            "",
            shrunk(3, 2),
        ),
        (
            "a delete below the page",
            Some(state("e d c", 10)),
            head("e d c", 9, true),
            "",
            shrunk(10, 9),
        ),
        (
            // b deleted: the object below the page moves up onto it and looks new.
            "a delete on the page pulls an old one up",
            Some(state("e d c", 10)),
            head("e d b", 9, true),
            "b",
            shrunk(11, 9),
        ),
        (
            "a create at the top and a delete: the count shows the delete",
            Some(state("c b a", 3)),
            head("d c a", 3, false),
            "d",
            shrunk(4, 3),
        ),
        (
            // Below the page an old object became a zaak link (a relink) and another was
            // deleted: the count cannot tell; the periodic pass catches both.
            "an arrival and a delete below the page cancel out",
            Some(state("e d c", 10)),
            head("e d c", 10, true),
            "",
            None,
        ),
        (
            "count grew below the page",
            Some(state("e d c", 10)),
            head("e d c", 11, true),
            "",
            grew(10, 11),
        ),
        (
            "overflow: every object on a full page is new",
            Some(state("c b a", 10)),
            head("h g f", 16, true),
            "h g f",
            Some(Why::Overflow),
        ),
        (
            "a full page, all new, no more pages: the whole list is on it",
            Some(state("a", 1)),
            head("c b", 2, false),
            "c b",
            shrunk(3, 2),
        ),
        (
            "the list emptied",
            Some(state("c b a", 3)),
            head("", 0, false),
            "",
            shrunk(3, 0),
        ),
        (
            "from empty to one page exactly",
            Some(state("", 0)),
            head("b a", 2, false),
            "b a",
            None,
        ),
        (
            "from empty to more than one page",
            Some(state("", 0)),
            head("c b", 3, true),
            "c b",
            Some(Why::Overflow),
        ),
    ];
    for (name, prev, h, want_new, want_pass) in cases {
        let d = decide(prev.as_ref(), &h);
        assert_eq!(d.reconcile, ids(want_new), "{name}: reconciled");
        assert_eq!(d.pass, want_pass, "{name}: pass");
        assert_eq!(d.next.seen, h.uuids, "{name}: remembers the page");
        assert_eq!(d.next.count, h.count, "{name}: remembers the count");
    }
}

#[test]
fn a_late_commit_over_two_polls_is_not_missed() {
    // Poll 1 sees c and a (b's insert took its position but had not committed).
    let d1 = decide(Some(&state("a", 1)), &head("c a", 2, false));
    assert_eq!(d1.reconcile, ids("c"));
    // Poll 2: b has committed below c, which was already seen.
    let d2 = decide(Some(&d1.next), &head("c b a", 3, false));
    assert_eq!(d2.reconcile, ids("b"));
    assert_eq!(d2.pass, None);
}

#[test]
fn pass_due_table() {
    let at = |s: &str| {
        let mut cp = Checkpoint::fresh("p".into(), Utc::now());
        cp.started = s.into();
        cp
    };
    let t0 = "2026-12-03T10:00:00.000Z";
    let before = at("2026-12-03T09:59:00.000Z");
    let after = at("2026-12-03T10:00:30.000Z");
    let same = at(t0);
    let cases: Vec<(&str, Option<&str>, Option<&Checkpoint>, bool)> = vec![
        ("nothing wanted", None, Some(&before), false),
        ("wanted, no pass ever", Some(t0), None, true),
        (
            "wanted, the last pass started before",
            Some(t0),
            Some(&before),
            true,
        ),
        ("wanted, a pass started after", Some(t0), Some(&after), false),
        (
            "wanted, a pass started at that moment",
            Some(t0),
            Some(&same),
            false,
        ),
        ("an unreadable time asks for nothing", Some("soon"), None, false),
    ];
    for (name, wanted, cp, want) in cases {
        assert_eq!(pass_due(wanted, cp), want, "{name}");
    }
}

#[test]
fn state_round_trips_as_one_line_of_json() {
    let mut s = state("c b a", 3);
    s.pass_wanted = Some("2026-12-03T10:00:00.000Z".into());
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains('\n'));
    assert_eq!(serde_json::from_str::<HeadState>(&json).unwrap(), s);
}

/// Issue 24: a poll that sees the count change while an earlier request is pending — met
/// already by a pass that started after it, or not yet — asks anew, so a pass that starts
/// after this poll is due; the count it saw is the next baseline and would not show it again.
#[test]
fn a_change_in_the_poll_after_a_request_keeps_a_pass_due() {
    let t = |s: &str| parse(&format!("2026-12-03T10:00:{s}.000Z")).unwrap();
    let started = |s: &str| {
        let mut cp = Checkpoint::fresh("p".into(), Utc::now());
        cp.started = checkpoint::ts(t(s));
        cp
    };
    let shrunk = |expected, count| Some(Why::Shrunk { expected, count });
    let grew = |expected, count| Some(Why::Grew { expected, count });
    // (name, last state, poll 1 head and why, poll 2 head and why)
    type Case = (&'static str, HeadState, Head, Option<Why>, Head, Option<Why>);
    let cases: Vec<Case> = vec![
        (
            "shrink then shrink",
            state("e d c", 10),
            head("e d c", 9, true),
            shrunk(10, 9),
            head("e d c", 8, true),
            shrunk(9, 8),
        ),
        (
            "overflow then shrink",
            state("c b a", 10),
            head("h g f", 16, true),
            Some(Why::Overflow),
            head("h g f", 15, true),
            shrunk(16, 15),
        ),
        (
            "grow then shrink",
            state("e d c", 10),
            head("e d c", 11, true),
            grew(10, 11),
            head("e d c", 10, true),
            shrunk(11, 10),
        ),
        (
            "shrink then grow",
            state("e d c", 10),
            head("e d c", 9, true),
            shrunk(10, 9),
            head("e d c", 10, true),
            grew(9, 10),
        ),
    ];
    for (name, last, h1, why1, h2, why2) in cases {
        let d1 = decide(Some(&last), &h1);
        assert_eq!(d1.pass, why1, "{name}: poll 1");
        let w1 = wanted_after(None, d1.pass.is_some(), t("00"));
        assert!(pass_due(w1.as_deref(), None), "{name}: poll 1 asks for a pass");
        let d2 = decide(Some(&d1.next), &h2);
        assert_eq!(d2.pass, why2, "{name}: poll 2 sees its own change");
        let w2 = wanted_after(w1.clone(), d2.pass.is_some(), t("15"));
        // The pass poll 1 asked for started at 05 (and may be running, or done): it may have
        // listed the list before poll 2's change, so a pass is still due, until one starts
        // at or after poll 2.
        for (at, due) in [("05", true), ("14", true), ("15", false), ("20", false)] {
            assert_eq!(
                pass_due(w2.as_deref(), Some(&started(at))),
                due,
                "{name}: poll 2, a pass started at {at}"
            );
        }
        assert!(pass_due(w2.as_deref(), None), "{name}: no pass yet");
    }
}

#[test]
fn a_poll_that_sees_no_change_keeps_the_earlier_request() {
    let at = parse("2026-12-03T10:00:00.000Z").unwrap();
    let earlier = Some("2026-12-03T09:59:45.000Z".to_string());
    assert_eq!(wanted_after(earlier.clone(), false, at), earlier);
    assert_eq!(wanted_after(None, false, at), None);
    assert_eq!(
        wanted_after(earlier, true, at).as_deref(),
        Some("2026-12-03T10:00:00.000Z")
    );
}

/// Issue 24: while a burst arrives, the announcements of other changes made meanwhile queue
/// behind its own (in Open Klant and Open Notificaties), so every poll of a burst asks for a
/// pass, and so does the first that sees it settled; then the head poll is quiet again.
#[test]
fn a_burst_asks_for_a_pass_every_poll_until_it_has_settled() {
    // Pages of 10 (a tenth: 1 new object): each step is (head now, want pass, want open after).
    let page = |first: u32, count: u64| {
        let uuids: Vec<String> = (first..first + 10).rev().map(|i| format!("o{i:03}")).collect();
        Head {
            uuids,
            count,
            more: true,
        }
    };
    let shrunk = |expected, count| Some(Why::Shrunk { expected, count });
    type Step = (Head, Option<Why>, bool);
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "overflow, a burst going on, settled, quiet",
            vec![
                (page(100, 40), Some(Why::Overflow), true),
                (page(104, 44), Some(Why::Burst), true),
                (page(109, 49), Some(Why::Burst), true),
                (page(109, 49), Some(Why::BurstSettled), false),
                (page(109, 49), None, false),
            ],
        ),
        (
            "overflow, settled at once",
            vec![
                (page(100, 40), Some(Why::Overflow), true),
                (page(100, 40), Some(Why::BurstSettled), false),
                (page(100, 40), None, false),
            ],
        ),
        (
            "overflow, overflow again",
            vec![
                (page(100, 40), Some(Why::Overflow), true),
                (page(110, 50), Some(Why::Overflow), true),
                (page(111, 51), Some(Why::Burst), true),
                (page(111, 51), Some(Why::BurstSettled), false),
            ],
        ),
        (
            "a delete during a burst keeps its own reason, the burst stays open",
            vec![
                (page(100, 40), Some(Why::Overflow), true),
                (page(102, 41), shrunk(42, 41), true),
                (page(102, 41), Some(Why::BurstSettled), false),
            ],
        ),
        (
            "new objects without an overflow are no burst",
            vec![
                (page(100, 40), Some(Why::Overflow), true),
                (page(100, 40), Some(Why::BurstSettled), false),
                (page(105, 45), None, false),
                (page(109, 49), None, false),
            ],
        ),
    ];
    for (name, steps) in cases {
        let mut last = state("o099 o098", 30);
        for (i, (h, want, open)) in steps.into_iter().enumerate() {
            let d = decide(Some(&last), &h);
            assert_eq!(d.pass, want, "{name}: poll {}", i + 1);
            assert_eq!(d.next.burst, open, "{name}: poll {}: burst open", i + 1);
            last = d.next;
        }
    }
}

#[test]
fn fewer_than_a_tenth_new_settles_a_burst() {
    let twenty: Vec<String> = (0..20).rev().map(|i| format!("n{i:02}")).collect();
    let mut open = state(&twenty.join(" "), 30);
    open.burst = true;
    // 1 new of 20 listed: a twentieth, settled.
    let mut uuids = vec!["x".to_string()];
    uuids.extend(twenty[..19].iter().cloned());
    let d = decide(
        Some(&open),
        &Head {
            uuids,
            count: 31,
            more: true,
        },
    );
    assert_eq!(d.pass, Some(Why::BurstSettled));
    assert!(!d.next.burst);
    // 2 new of 20: a tenth, still a burst.
    let mut uuids = vec!["y".to_string(), "x".to_string()];
    uuids.extend(twenty[..18].iter().cloned());
    let d = decide(
        Some(&open),
        &Head {
            uuids,
            count: 32,
            more: true,
        },
    );
    assert_eq!(d.pass, Some(Why::Burst));
    assert!(d.next.burst);
}

#[test]
fn a_burst_survives_the_state_round_trip_and_old_states_read_as_quiet() {
    let mut s = state("c b a", 3);
    s.burst = true;
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<HeadState>(&json).unwrap(), s);
    let quiet = serde_json::to_string(&state("c b a", 3)).unwrap();
    assert!(!quiet.contains("burst"), "{quiet}");
    let old = r#"{"seen":["c","b","a"],"count":3}"#;
    assert!(!serde_json::from_str::<HeadState>(old).unwrap().burst);
}
