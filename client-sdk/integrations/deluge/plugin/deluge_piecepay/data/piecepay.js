/**
 * piecepay.js: the piecepay plugin in Deluge's web UI (deluge-web).
 *
 * Adds the plugin's per-torrent status fields as columns of the torrent list (spent, earned, pending,
 * peers paying us, peers we pay) and the wallet to the status bar: the payments' state, or the wallet's
 * free balance in the escrow, what is locked in channels and its own tokens. Amounts arrive as decimal
 * strings of base units and are shown in tokens (18 decimals, the project's token).
 */
Ext.ns('Deluge.plugins');

Deluge.plugins.PiecepayPlugin = Ext.extend(Deluge.Plugin, {
    name: 'Piecepay',

    columns: [
        ['piecepay_spent', 'Paid', 'tokens'],
        ['piecepay_earned', 'Earned', 'tokens'],
        ['piecepay_pending', 'Unsettled', 'tokens'],
        ['piecepay_peers_paying', 'Paying peers', 'count'],
        ['piecepay_peers_paid', 'Paid peers', 'count'],
    ],

    onEnable: function() {
        Ext.each(this.columns, function(c) {
            this.registerTorrentStatus(c[0], _(c[1]), {
                colCfg: {
                    renderer: c[2] == 'tokens' ? Deluge.plugins.PiecepayPlugin.tokens : undefined,
                    sortable: true,
                    width: 95,
                    align: 'right',
                },
                storeCfg: { sortType: c[2] == 'tokens' ? Deluge.plugins.PiecepayPlugin.sortAmount : undefined },
            });
        }, this);
        this.wallet = deluge.statusbar.add({ id: 'piecepay-wallet', xtype: 'tbtext', text: 'piecepay: …' });
        deluge.statusbar.doLayout();
        this.refresh();
        this.timer = setInterval(this.refresh.createDelegate(this), 10000);
    },

    onDisable: function() {
        clearInterval(this.timer);
        if (this.listening) deluge.events.un('PiecepayStatusEvent', this.refresh, this);
        this.listening = false;
        Ext.each(this.columns, function(c) {
            // Deluge 2.0.3's deregisterTorrentStatus leaves Deluge.Keys.Grid holding only the key it
            // removes: keep every other key ourselves.
            var keep = Deluge.Keys.Grid.filter(function(k) { return k != c[0]; });
            this.deregisterTorrentStatus(c[0]);
            Deluge.Keys.Grid = keep;
        }, this);
        if (this.wallet) {
            deluge.statusbar.remove(this.wallet);
            deluge.statusbar.doLayout();
            this.wallet = null;
        }
    },

    show: function(text) {
        if (this.wallet) this.wallet.setText(text);
    },

    refresh: function() {
        var me = this, tokens = Deluge.plugins.PiecepayPlugin.tokens;
        // The plugin's methods exist once the web UI is logged in and connected to a daemon.
        if (!deluge.client.piecepay) {
            me.show('piecepay: not connected');
            return;
        }
        // The state is shown as soon as it changes (the daemon's PiecepayStatusEvent, which can be
        // subscribed to once connected); the balances are read again every 10 s.
        if (!me.listening) {
            deluge.events.on('PiecepayStatusEvent', me.refresh, me);
            me.listening = true;
        }
        deluge.client.piecepay.get_status({
            success: function(st) {
                if (st.state != 'running') {
                    me.show('piecepay: ' + st.state + (st.error_code ? ' (' + st.error_code + ')' : ''));
                    return;
                }
                deluge.client.piecepay.get_balances({
                    success: function(b) {
                        me.show('piecepay: free ' + tokens(b.free) + ' · locked ' + tokens(b.locked) +
                            ' · wallet ' + tokens(b.token_balance));
                    },
                    failure: function() { me.show('piecepay: balances unavailable'); },
                });
            },
            failure: function() { me.show('piecepay: no answer'); },
        });
    },
});

// Base units (a decimal string) to tokens, at most 6 decimals, without floating point.
Deluge.plugins.PiecepayPlugin.tokens = function(value) {
    var s = String(value == null ? '0' : value);
    while (s.length < 19) s = '0' + s;
    var whole = s.slice(0, -18).replace(/^0+(?=\d)/, ''), frac = s.slice(-18, -12).replace(/0+$/, '');
    return frac ? whole + '.' + frac : whole;
};

Deluge.plugins.PiecepayPlugin.sortAmount = function(value) {
    var s = String(value == null ? '0' : value);
    return ('0000000000000000000000000000000000000000' + s).slice(-40);
};

Deluge.registerPlugin('Piecepay', Deluge.plugins.PiecepayPlugin);
