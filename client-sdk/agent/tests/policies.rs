//! The agents' policies against real peers on a devnet: a budget that runs out, terms above the
//! buyer's maximum price, and a claimed channel that does not exist on chain.

mod common;

use std::time::Duration;

use common::*;
use piecepay_agent::Event;
use piecepay_sdk::{
    Actions, PayerConfig, PayerSession, PayerSessionConfig,
    protocol::{SigningKey, alloy_primitives::B256},
    wire::Message,
};

fn events(agent: &piecepay_agent::Agent) -> Vec<Event> {
    std::iter::from_fn(|| agent.next_event())
        .map(|e| e.event)
        .collect()
}

#[test]
fn a_spent_budget_stops_the_payments_and_the_payee_chokes() {
    let net = Net::start(1, 1, true);
    let credit = 3;
    let seeder = seller(&net, payee_policy(PRICE, credit), |_| {});
    let budget = 10 * PRICE + PRICE / 2;
    let leecher = buyer(&net, payer_policy(budget), |_| {});
    let (s, l) = connect(&seeder, &leecher);
    let moved = transfer(&s, &l, 100, Duration::from_secs(5));
    settle_down(&s, &l, Duration::from_secs(10), || !l.state().payment_due);
    let report = leecher.report();
    assert_eq!(
        report.spent,
        10 * PRICE,
        "never past the budget: {report:?}"
    );
    assert_eq!(report.torrents[0].pieces_paid, 10);
    // The payee served what was paid and its credit window, then choked the peer.
    assert_eq!(moved, 10 + u64::from(credit), "{:?}", events(&seeder));
    assert!(!s.may_serve() && !s.state().serve && s.state().allowance == 0);
    let seen = events(&leecher);
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::BudgetExhausted { scope: "total", .. })),
        "{seen:?}"
    );
    // The receipts the leecher signed are all the seeder holds.
    assert!(eventually(Duration::from_secs(10), || seeder
        .report()
        .earned
        == 10 * PRICE));
}

#[test]
fn terms_above_the_maximum_price_are_not_paid() {
    let net = Net::start(1, 1, true);
    let priced_out = piecepay_agent::config::PayeePolicy {
        free_pieces: 2,
        ..payee_policy(2 * PRICE, 4)
    };
    let seeder = seller(&net, priced_out, |_| {});
    let leecher = buyer(&net, payer_policy(1_000 * PRICE), |_| {});
    let (s, l) = connect(&seeder, &leecher);
    assert_eq!(s.state().allowance, 2, "the free share");
    // The free share only: no bid, no channel, nothing signed.
    let moved = transfer(&s, &l, 10, Duration::from_secs(3));
    assert_eq!(moved, 2);
    assert_eq!(s.state().allowance, 0);
    let report = leecher.report();
    assert_eq!(report.spent, 0);
    assert!(
        report.peers.iter().all(|p| p.state == "negotiating"),
        "{report:?}"
    );
    let seen = events(&leecher);
    assert!(
        seen.iter().any(|e| matches!(
            e,
            Event::TermsRefused { code, .. } if code == "price_above_max"
        )),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::ChannelOpening { .. }))
    );
    assert_eq!(seeder.report().earned, 0);
}

#[test]
fn a_channel_that_does_not_exist_on_chain_is_refused() {
    let net = Net::start(1, 1, true);
    let seeder = seller(&net, payee_policy(PRICE, 4), |c| {
        c.timing.channel_check_s = 2
    });
    let s = seeder.attach(TORRENT, "liar");
    s.start();

    // A peer that bids and claims a funded channel it never opened (the SDK's session, no agent).
    let key = SigningKey::from_bytes(&B256::repeat_byte(0x42)).unwrap();
    let mut liar = PayerSession::new(PayerSessionConfig {
        chain_id: net.info.chain_id,
        escrow: net.info.escrow,
        token: net.info.token,
        key,
        salt: 1,
        max_price: PRICE,
        bid_step: PRICE,
        budget: u128::MAX,
        channel: PayerConfig::default(),
    })
    .unwrap();
    let now = 1;
    let to_liar = |s: &piecepay_agent::PeerLink| -> Vec<Message> {
        s.take_outgoing()
            .iter()
            .map(|b| Message::decode(b).unwrap())
            .collect()
    };
    let terms = to_liar(&s);
    let bid = liar.on_message(terms[0].clone(), now).unwrap();
    s.on_message(&bid.reply.unwrap().encode().unwrap());
    let accept = to_liar(&s);
    let agreed = liar.on_message(accept[0].clone(), now).unwrap();
    assert!(agreed.has(Actions::OPEN_CHANNEL));
    let claim = liar.channel_funded(50 * PRICE, None, now).unwrap();
    s.on_message(&claim.reply.unwrap().encode().unwrap());

    assert!(!s.may_serve(), "not before the chain shows the channel");
    let mut seen = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            seen.extend(events(&seeder));
            seen.iter()
                .any(|e| matches!(e, Event::ChannelRefused { .. }))
        }),
        "{seen:?}"
    );
    let replies = to_liar(&s);
    assert!(
        replies.iter().any(|m| matches!(
            m,
            Message::Error(e) if e.code.as_str() == "channel_not_funded"
        )),
        "{replies:?}"
    );
    assert!(!s.may_serve() && !s.state().paying);
}
