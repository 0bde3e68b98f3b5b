//! Two agents on a devnet with a relayer: the leecher opens its channel itself and pays per piece, the
//! seeder checks it on chain and hands its receipts to the relayer, which settles them.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_leecher_opens_its_channel_pays_per_piece_and_the_receipts_settle() {
    let net = Net::start(1, 1, true);
    let seeder = seller(&net, payee_policy(PRICE, 4), |_| {});
    let leecher = buyer(&net, payer_policy(1_000 * PRICE), |_| {});
    let (s, l) = connect(&seeder, &leecher);
    let moved = transfer(&s, &l, 40, Duration::from_secs(60));
    assert_eq!(
        moved,
        40,
        "seeder events: {:?}\nleecher events: {:?}",
        drain_events(&seeder),
        drain_events(&leecher)
    );
    assert!(
        settle_down(&s, &l, Duration::from_secs(20), || !l.state().payment_due),
        "the last receipt is acknowledged"
    );
    let spent = leecher.report();
    assert_eq!(spent.spent, 40 * PRICE, "{spent:?}");
    assert_eq!(spent.torrents[0].pieces_paid, 40);
    let channel = spent.peers[0].channel_id;
    assert!(
        eventually(Duration::from_secs(60), || net.channel(channel).settled
            == 40 * PRICE),
        "the relayer settles every paid piece: {:?}; seeder events: {:?}",
        net.channel(channel),
        drain_events(&seeder)
    );
    assert!(eventually(Duration::from_secs(10), || seeder
        .report()
        .peers[0]
        .settled
        == 40 * PRICE));
    let earned = seeder.report();
    assert_eq!(earned.earned, 40 * PRICE);
    assert_eq!(earned.torrents[0].pieces_served, 40);
    assert_eq!(earned.torrents[0].earned, 40 * PRICE);
    drop((s, l));
    seeder.shutdown().unwrap();
    leecher.shutdown().unwrap();
}

#[test]
fn closed_channels_keep_their_totals_and_the_refund_is_withdrawn() {
    let net = Net::start(1, 1, true);
    let seeder = seller(&net, payee_policy(PRICE, 4), |_| {});
    let leecher = buyer(&net, payer_policy(1_000 * PRICE), |_| {});
    let (s, l) = connect(&seeder, &leecher);
    assert_eq!(transfer(&s, &l, 12, Duration::from_secs(60)), 12);
    settle_down(&s, &l, Duration::from_secs(20), || !l.state().payment_due);
    let channel = leecher.report().peers[0].channel_id;

    // The user closes everything while the engine keeps moving messages: the seeder co-signs at once.
    std::thread::scope(|scope| {
        let closing = scope.spawn(|| leecher.close_all());
        settle_down(&s, &l, Duration::from_secs(30), || closing.is_finished());
        closing.join().unwrap().unwrap();
    });
    assert!(
        net.closes_within(channel, Duration::from_secs(60)),
        "{:?}",
        drain_events(&leecher)
    );
    assert_eq!(
        net.channel(channel).settled,
        12 * PRICE,
        "settled by the close itself"
    );
    assert!(eventually(Duration::from_secs(10), || {
        let report = leecher.report();
        report.peers[0].state == "closed" && report.wallet.locked == 0
    }));
    assert!(eventually(Duration::from_secs(10), || seeder
        .report()
        .peers[0]
        .state
        == "closed"));
    // Closed channels keep counting in what was paid and earned.
    let paid = |report: &piecepay_agent::Report| {
        let peer = &report.peers[0];
        (peer.paid, peer.settled, peer.pending, peer.pieces)
    };
    let assert_totals = |seeder: &piecepay_agent::Agent, leecher: &piecepay_agent::Agent| {
        let (earned, spent) = (seeder.report(), leecher.report());
        assert_eq!(earned.earned, 12 * PRICE, "{earned:?}");
        assert_eq!(earned.torrents[0].earned, 12 * PRICE, "{earned:?}");
        assert_eq!(paid(&earned), (12 * PRICE, 12 * PRICE, 0, 12), "{earned:?}");
        assert_eq!(earned.wallet.pending, 0, "{earned:?}");
        assert_eq!(spent.spent, 12 * PRICE, "{spent:?}");
        assert_eq!(spent.torrents[0].spent, 12 * PRICE, "{spent:?}");
        assert_eq!(paid(&spent), (12 * PRICE, 12 * PRICE, 0, 12), "{spent:?}");
    };
    assert_totals(&seeder, &leecher);

    let refund = DEPOSIT - 12 * PRICE;
    assert!(eventually(Duration::from_secs(10), || leecher
        .report()
        .wallet
        .withdrawable
        == Some(refund)));
    let chain = net.chain();
    let account = leecher.address();
    let tokens_before = net.rt.block_on(chain.token_balance_of(account)).unwrap();
    leecher.withdraw(None, None).unwrap();
    let tokens_after = net.rt.block_on(chain.token_balance_of(account)).unwrap();
    assert_eq!(
        tokens_after - tokens_before,
        piecepay_sdk::protocol::alloy_primitives::U256::from(refund)
    );
    assert_eq!(leecher.report().wallet.withdrawable, Some(0));

    // And after a restart, from what the stores kept.
    drop((s, l));
    seeder.shutdown().unwrap();
    leecher.shutdown().unwrap();
    let seeder = seller(&net, payee_policy(PRICE, 4), |_| {});
    let leecher = buyer(&net, payer_policy(1_000 * PRICE), |_| {});
    assert_totals(&seeder, &leecher);
    seeder.shutdown().unwrap();
    leecher.shutdown().unwrap();
}
