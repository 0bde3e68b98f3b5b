"""The script that the test-only egg's payments follow (native/payments_scripted.cpp): what to write,
and what to read back."""
import json
import os

TOTALS = {'spent': '1500000000000000000', 'earned': '250000000000000', 'pending': '200000000000000',
          'peers_paying': 2, 'peers_paid': 1}
WALLET = {'address': '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', 'token_balance': '7000000000000000000',
          'free': '3000000000000000000', 'locked': '1000000000000000000'}


def script(d, **entries):
    directory = os.path.join(d.config_dir, 'piecepay')
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'scripted.json'), 'w') as f:
        json.dump(entries, f)


def scripted_log(d):
    with open(os.path.join(d.config_dir, 'piecepay', 'scripted.log')) as f:
        return f.read().split('\n')[:-1]


def script_threads(d):
    return [t for t in d.thread_names() if t == 'piecepay-script']
