"""The web UI part in Deluge's own web UI (deluge-web), in headless Chromium: the plugin's columns in
the torrent list and the wallet or the payments' state in the status bar, with the scripted payments
of test_scripted.py. The screenshot's path is printed (pytest -s) and kept in build/test-webui.png."""
import os
import shutil
import signal

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from deluged import free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
# As the machine's notes say: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--window-size=1400,700']


def texts(browser, selector):
    # Read in one script: ExtJS re-renders the grid while it refreshes, so elements found one call
    # earlier may be gone the next.
    return browser.execute_script(
        'return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent.trim())', selector)


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for flag in CHROMIUM_FLAGS + ['--user-data-dir=%s' % (tmp_path / 'chromium')]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
    yield driver
    driver.quit()


def test_columns_and_wallet_in_the_web_ui(running, browser, tmp_path):
    d, tid = running  # scripted payments (conftest.py): the values are not all zero
    port = free_port()
    web = d.serve_web(port)
    try:
        browser.get('http://127.0.0.1:%d/' % port)
        password = wait_for('the login window', lambda: browser.find_elements(By.ID, '_password'))[0]
        wait_for('the login field to show', password.is_displayed)
        password.send_keys('deluge', Keys.ENTER)
        wait_for('the plugin\'s columns',
                 lambda: {'Paid', 'Earned', 'Unsettled', 'Paying peers', 'Paid peers'} <= set(texts(browser, '.x-grid3-hd-inner')))
        wait_for('the torrent in the list', lambda: [r for r in texts(browser, '#torrentGrid .x-grid3-row') if 'paid.bin' in r])
        # The row's piecepay cells, in tokens (18 decimals) and peers.
        wait_for('the row\'s piecepay cells',
                 lambda: texts(browser, '#torrentGrid .x-grid3-row .x-grid3-cell-inner')[-5:] == ['1.5', '0.00025', '0.0002', '2', '1'])
        wait_for('the wallet in the status bar',
                 lambda: texts(browser, '#piecepay-wallet') == ['piecepay: free 3 · locked 1 · wallet 7'])
        shot = tmp_path / 'webui.png'
        browser.save_screenshot(str(shot))
        kept = os.path.join(HERE, '..', 'build', 'test-webui.png')
        shutil.copy(shot, kept)
        print('web UI screenshot: %s' % os.path.abspath(kept))
        # Amounts are shown in tokens exactly, at most 6 decimals, whatever their size.
        tokens = 'return Deluge.plugins.PiecepayPlugin.tokens(arguments[0])'
        for base_units, shown in (('0', '0'), ('250000000000000', '0.00025'), ('123456789000000000000000000', '123456789'),
                                  ('1', '0'), ('1000001000000000000', '1.000001')):
            assert browser.execute_script(tokens, base_units) == shown, base_units
        # A payments problem shows in the status bar as it happens: the daemon's PiecepayStatusEvent makes
        # the page read the state again (its own timer is stopped here, so nothing else can).
        browser.execute_script('clearInterval(deluge.plugins.Piecepay.timer)')
        d.rpc('piecepay.set_config', {'keystore': str(tmp_path / 'missing.json')})
        wait_for('the error in the status bar', lambda: texts(browser, '#piecepay-wallet') == ['piecepay: error (keystore_missing)'])
        # Disabled in the daemon, the plugin leaves the web UI: its columns and status go, Deluge's stay.
        d.rpc('core.disable_plugin', 'Piecepay')
        wait_for('the plugin\'s columns to go', lambda: 'Paid' not in texts(browser, '.x-grid3-hd-inner'))
        assert not texts(browser, '#piecepay-wallet')
        assert 'Name' in texts(browser, '.x-grid3-hd-inner')
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(20)
