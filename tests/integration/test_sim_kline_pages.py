"""Kline pages are byte-for-byte what the sim served before its fast path (issue 8, item 7).

`PINNED` holds the SHA-256 and length of every reply body below, recorded from the per-row
implementation (commit 0ac7739; one error text re-pinned after a later decoder change) against the
session sim (seed 20240601, clock at 2024-06-01 12:00:30.500 UTC). Any change to a page's bytes,
including key order, number spelling or the envelope, fails here. The cases cover every category
and tick/lot shape, every interval, mark and index prices, the first and last pages, the partial
bar of now, maintenance gaps, limits 1/200/1000, start/end bounds (alone, together, unaligned,
outside the listing) and the parameter errors.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from bst.sim.catalog import utc_ms

MIN = 60_000
KLINE = "/v5/market/kline"
MARK = "/v5/market/mark-price-kline"
INDEX = "/v5/market/index-price-kline"
NOW = 1_717_243_230_500  # the session sim's clock (tests/conftest.py SIM_NOW_MS)
LINEAR_GAP = 1_715_393_580_000  # 2024-05-11 02:13 UTC, 20 minutes of derivatives maintenance
SPOT_GAP = 1_714_967_100_000  # 2024-05-06 03:45 UTC, 16 minutes of spot maintenance
SOL_LISTING = 1_623_196_800_000  # linear SOLUSDT, 2021-06-09
XRP_SPOT_LISTING = 1_625_443_200_000  # spot XRPUSDT, 2021-07-05


def _page(path: str, **params: Any) -> tuple[str, dict[str, str]]:
    return path, {k: str(v) for k, v in params.items()}


CASES: dict[str, tuple[str, dict[str, str]]] = {
    # the newest page (partial bar of now) of every instrument shape, 1m at the maximum limit
    "linear-btc-1-latest-1000": _page(KLINE, category="linear", symbol="BTCUSDT", interval="1", limit=1000),
    "linear-eth-1-latest-1000": _page(KLINE, category="linear", symbol="ETHUSDT", interval="1", limit=1000),
    "linear-sol-1-latest-1000": _page(KLINE, category="linear", symbol="SOLUSDT", interval="1", limit=1000),
    "linear-xrp-1-latest-1000": _page(KLINE, category="linear", symbol="XRPUSDT", interval="1", limit=1000),
    "linear-doge-1-latest-1000": _page(KLINE, category="linear", symbol="DOGEUSDT", interval="1", limit=1000),
    "spot-btc-1-latest-1000": _page(KLINE, category="spot", symbol="BTCUSDT", interval="1", limit=1000),
    "spot-eth-1-latest-1000": _page(KLINE, category="spot", symbol="ETHUSDT", interval="1", limit=1000),
    "spot-sol-1-latest-1000": _page(KLINE, category="spot", symbol="SOLUSDT", interval="1", limit=1000),
    "spot-xrp-1-latest-1000": _page(KLINE, category="spot", symbol="XRPUSDT", interval="1", limit=1000),
    "inverse-btc-1-latest-1000": _page(KLINE, category="inverse", symbol="BTCUSD", interval="1", limit=1000),
    "inverse-eth-1-latest-1000": _page(KLINE, category="inverse", symbol="ETHUSD", interval="1", limit=1000),
    # category defaults to linear, limit to 200
    "default-category-and-limit": _page(KLINE, symbol="BTCUSDT", interval="1"),
    # every interval, linear BTCUSDT, a mid-history page bounded on both sides
    **{
        f"linear-btc-{iv}-bounded": _page(
            KLINE,
            category="linear",
            symbol="BTCUSDT",
            interval=iv,
            start=utc_ms("2023-02-03T04:05"),
            end=utc_ms("2024-03-04T05:06"),
            limit=1000,
        )
        for iv in ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
    },
    # every interval of the newest page (its last bar partial), spot and inverse
    **{
        f"{cat}-{iv}-latest": _page(KLINE, category=cat, symbol=sym, interval=iv, limit=1000)
        for cat, sym in (("spot", "ETHUSDT"), ("inverse", "BTCUSD"))
        for iv in ("5", "60", "720", "D", "W", "M")
    },
    # a backward download's pages: both bounds, 1000 bars, the year's first page ending short
    "page-2023-last": _page(
        KLINE,
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start=utc_ms("2023-12-31T07:21"),
        end=utc_ms("2024-01-01") - MIN,
        limit=1000,
    ),
    "page-2023-first-short": _page(
        KLINE,
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start=utc_ms("2023-01-01"),
        end=utc_ms("2023-01-01T09:59"),
        limit=1000,
    ),
    # maintenance gaps: a page across a window, a page inside one (empty), the window's edges
    "gap-linear-across": _page(
        KLINE,
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start=LINEAR_GAP - 500 * MIN,
        end=LINEAR_GAP + 499 * MIN,
        limit=1000,
    ),
    "gap-linear-inside": _page(
        KLINE,
        category="linear",
        symbol="XRPUSDT",
        interval="1",
        start=LINEAR_GAP + 2 * MIN,
        end=LINEAR_GAP + 9 * MIN,
        limit=1000,
    ),
    "gap-linear-edge-limit-1": _page(
        KLINE, category="linear", symbol="ETHUSDT", interval="1", end=LINEAR_GAP + 19 * MIN, limit=1
    ),
    "gap-linear-5m": _page(
        KLINE,
        category="linear",
        symbol="BTCUSDT",
        interval="5",
        start=LINEAR_GAP - 60 * MIN,
        end=LINEAR_GAP + 60 * MIN,
    ),
    "gap-spot-across": _page(
        KLINE,
        category="spot",
        symbol="BTCUSDT",
        interval="1",
        start=SPOT_GAP - 30 * MIN,
        end=SPOT_GAP + 30 * MIN,
    ),
    "gap-spot-inside": _page(
        KLINE,
        category="spot",
        symbol="XRPUSDT",
        interval="1",
        start=SPOT_GAP,
        end=SPOT_GAP + 15 * MIN,
    ),
    "gap-inverse-60": _page(
        KLINE, category="inverse", symbol="ETHUSD", interval="60", end=LINEAR_GAP + 1000 * MIN, limit=50
    ),
    # listing edges: the first bars, a start before the listing, a range wholly before it
    "listing-first-page": _page(
        KLINE,
        category="linear",
        symbol="SOLUSDT",
        interval="1",
        start=0,
        end=SOL_LISTING + 999 * MIN,
        limit=1000,
    ),
    "listing-first-day-D": _page(
        KLINE,
        category="spot",
        symbol="XRPUSDT",
        interval="D",
        start=XRP_SPOT_LISTING - 10 * 86_400_000,
        end=XRP_SPOT_LISTING + 20 * 86_400_000,
    ),
    "listing-before": _page(
        KLINE,
        category="linear",
        symbol="SOLUSDT",
        interval="1",
        start=0,
        end=SOL_LISTING - MIN,
    ),
    "listing-since-M": _page(KLINE, category="inverse", symbol="BTCUSD", interval="M", start=0, limit=1000),
    "listing-since-W": _page(KLINE, category="linear", symbol="BTCUSDT", interval="W", start=0, limit=1000),
    "listing-since-D-limit-1000": _page(KLINE, category="linear", symbol="SOLUSDT", interval="D", limit=1000),
    # limits and bounds
    "limit-1-latest": _page(KLINE, category="linear", symbol="BTCUSDT", interval="1", limit=1),
    "limit-1-start-only": _page(
        KLINE, category="linear", symbol="BTCUSDT", interval="1", start=utc_ms("2024-01-01"), limit=1
    ),
    "limit-7-end-only": _page(
        KLINE,
        category="spot",
        symbol="SOLUSDT",
        interval="3",
        end=utc_ms("2022-08-09T10:11") + 12_345,
        limit=7,
    ),
    "start-only-more-than-limit": _page(
        KLINE, category="linear", symbol="DOGEUSDT", interval="15", start=utc_ms("2022-01-01")
    ),
    "start-equals-end": _page(
        KLINE,
        category="linear",
        symbol="BTCUSDT",
        interval="1",
        start=utc_ms("2023-06-06T06:06"),
        end=utc_ms("2023-06-06T06:06"),
    ),
    "unaligned-bounds": _page(
        KLINE,
        category="spot",
        symbol="ETHUSDT",
        interval="30",
        start=utc_ms("2023-06-06T06:06") + 1,
        end=utc_ms("2023-06-09T06:06") - 1,
        limit=1000,
    ),
    "end-in-the-future": _page(
        KLINE, category="linear", symbol="ETHUSDT", interval="60", end=NOW + 86_400_000, limit=30
    ),
    "start-after-now": _page(KLINE, category="linear", symbol="BTCUSDT", interval="1", start=NOW + 3 * MIN),
    "end-is-now-partial": _page(KLINE, category="inverse", symbol="BTCUSD", interval="1", end=NOW, limit=3),
    # mark and index price klines (5 fields a row)
    "mark-linear-1-latest-1000": _page(MARK, category="linear", symbol="BTCUSDT", interval="1", limit=1000),
    "mark-linear-xrp-60-bounded": _page(
        MARK,
        category="linear",
        symbol="XRPUSDT",
        interval="60",
        start=utc_ms("2023-01-01"),
        end=utc_ms("2023-02-01"),
        limit=1000,
    ),
    "mark-inverse-D-latest": _page(MARK, category="inverse", symbol="BTCUSD", interval="D", limit=1000),
    "mark-linear-gap": _page(
        MARK,
        category="linear",
        symbol="ETHUSDT",
        interval="1",
        start=LINEAR_GAP - 10 * MIN,
        end=LINEAR_GAP + 30 * MIN,
    ),
    "mark-default-category": _page(MARK, symbol="DOGEUSDT", interval="W"),
    "index-linear-1-latest-1000": _page(INDEX, category="linear", symbol="SOLUSDT", interval="1", limit=1000),
    "index-inverse-M-since": _page(INDEX, category="inverse", symbol="ETHUSD", interval="M", start=0),
    "index-linear-240-limit-1": _page(INDEX, category="linear", symbol="BTCUSDT", interval="240", limit=1),
    # errors (HTTP 200, retCode 10001)
    "error-symbol-invalid": _page(KLINE, category="linear", symbol="NOPEUSDT", interval="1"),
    "error-spot-symbol-on-inverse": _page(KLINE, category="inverse", symbol="BTCUSDT", interval="1"),
    "error-interval-invalid": _page(KLINE, category="linear", symbol="BTCUSDT", interval="2"),
    "error-limit-0": _page(KLINE, category="linear", symbol="BTCUSDT", interval="1", limit=0),
    "error-limit-1001": _page(KLINE, category="linear", symbol="BTCUSDT", interval="1", limit=1001),
    "error-start-after-end": _page(
        KLINE, category="linear", symbol="BTCUSDT", interval="1", start=NOW - MIN, end=NOW - 2 * MIN
    ),
    "error-start-not-int": _page(KLINE, category="linear", symbol="BTCUSDT", interval="1", start="x"),
    "error-missing-symbol": _page(KLINE, category="linear", interval="1"),
    "error-missing-interval": _page(KLINE, category="linear", symbol="BTCUSDT"),
    "error-category-invalid": _page(KLINE, category="futures", symbol="BTCUSDT", interval="1"),
    "error-mark-on-spot": _page(MARK, category="spot", symbol="BTCUSDT", interval="1"),
}


def digest(body: bytes) -> str:
    """Return `sha256:length` of a reply body."""
    return f"{hashlib.sha256(body).hexdigest()}:{len(body)}"


PINNED: dict[str, str] = {
    "default-category-and-limit": "a0bfd864b42ebaadea1f4026ac5660a5e00d8b771031e87f6d75107520282167:16323",
    "end-in-the-future": "2d4b41192964e17220e87f748b6793143ce218fc7c73b18806a83ceafd9dabca:2674",
    "end-is-now-partial": "5e40286de71d3d9307da9648654f85a70f13e974816684b4f8c5d1991bc2279b:351",
    "error-category-invalid": "239d69dd7d7cbb61f47d80de2dd1be67d0f7a6b07a58bd5935431691c6d3fcd4:117",
    "error-interval-invalid": "3426a629af6e2e1e2119d2318d78adb9dd7e4b8c24571b4bc89b5d8538c2d5f8:108",
    "error-limit-0": "1a2b005f4f415722478a597c16df8d188fc1d9983f9b08ee4528d73b371a8d40:131",
    "error-limit-1001": "90893a52187c29e62ff3c2534883fe5f15128b85782ed8c9b6da2451e1f100be:134",
    "error-mark-on-spot": "123098cffa12dd111392054470b5efa12091f337b8741ceae3aa2f29ebe78c30:139",
    "error-missing-interval": "12149725eed5b86150070cdb248ac0d3d07e3330f222283f4de08b3aab303e1a:128",
    "error-missing-symbol": "cd287518f314475660fb0d7a9e2c15c63d046132ba7373d66f0e71694679ae63:126",
    "error-spot-symbol-on-inverse": "f544647729e55ea91938a6d87c4210a1d229af8cf21c46b35801764c0272bdd0:106",
    "error-start-after-end": "bc383b7e461dc8cd0a636f1b92e318493f7319b3875ccf559d85c55d08388162:151",
    # Re-pinned when main's strict parameter decoder (sim-hardening) changed this retMsg to
    # "params error: start invalid: not a number"; every page body is as first pinned.
    "error-start-not-int": "30d7ff7233124d78435267efc97922faded49866634d3c78380033753d3c33c4:119",
    "error-symbol-invalid": "f544647729e55ea91938a6d87c4210a1d229af8cf21c46b35801764c0272bdd0:106",
    "gap-inverse-60": "c665ca1ca68e63331792a9fac96707a9d5f938437a1f7fbff3abf35c65dbd0cd:4182",
    "gap-linear-5m": "d1ec3a09f1963e2673b5d10b240fdaeb10d81dcb98932eadb220ad421f26bffb:1827",
    "gap-linear-across": "246ef0f026876c00de27ab5dd506d83ac994f9c9f48e61b5af8399da064e992f:79072",
    "gap-linear-edge-limit-1": "f10348f1dc736cf9bb0d48dabe6584db78b702f325fa83ffbb1023f04ef113a8:204",
    "gap-linear-inside": "d2c843b99186cebf28707fdf8862fe144fe7ef3272b10304c54de417a5851fb3:124",
    "gap-spot-across": "bcdb089caf93050ffb04fe1b44ca01d03f51568674d70badd35ff8d75e5de601:4158",
    "gap-spot-inside": "980b50f539f505fd4303ae9ebafffd2d6d20a213d6753ee985f5f399822425fd:122",
    "index-inverse-M-since": "1378bd4532bfcf8ba541e5714e5cd30774c9c86e2ebf3de3f741ccf5a2732713:3661",
    "index-linear-1-latest-1000": "691863e4a2a09d33995586dfa054ceeb0c0e94e916fbc7e64193c8e6368c6bd4:53565",
    "index-linear-240-limit-1": "2862aa9969443e8fc073cc599f78b26632716afbb2b003572a61351d462dac08:179",
    "inverse-5-latest": "fca233634417b45d710c11622441d938f0ad9d9b0b2018909b8f72821765c00e:77832",
    "inverse-60-latest": "80f4b92ac38866a12ad7c63ba50a0fdd604461fd66ff3e0199d28c741862fd03:79673",
    "inverse-720-latest": "5d4edf6ac32ec73eefdf91b5b28723f56b8e9c50a2982a48323553252d15146f:82258",
    "inverse-D-latest": "0289259d790562b809efe5ac099c2cfc610f64880e189457f679c849e57800d9:82816",
    "inverse-M-latest": "4877dfe74c4266bddfb778910e4c4f0c7220c41d37ed7974bbe58fca4f8e47b3:5910",
    "inverse-W-latest": "63b07272249711a5c6b2df096c4a423a4ff0a340b7b0e2887ac376f5cff98aed:24431",
    "inverse-btc-1-latest-1000": "9acf57ba7a3d9d61d272975841c53dfe91f22d207677c1be5823bef86b4b5efd:75981",
    "inverse-eth-1-latest-1000": "719c2e8ab4efc177a846beb8df32df3f6bde6b3938924e9d4fd6f4ca0b6a3ad1:77491",
    "limit-1-latest": "91128265ae98d0db4fac4ecbb7ed115f95f7414375770ac007ce94239f17c0bf:205",
    "limit-1-start-only": "91128265ae98d0db4fac4ecbb7ed115f95f7414375770ac007ce94239f17c0bf:205",
    "limit-7-end-only": "5a6d6687aa1aa1725798b4c76e5685b841f08568585b43d422bffae279c1c080:657",
    "linear-btc-1-bounded": "ea2e23ad529f52853398abd0bd63295b300b57ee59cfb9470a53029ea8ef0d56:80882",
    "linear-btc-1-latest-1000": "25efeb1701292b55b17d9d1cded4d07e0bfd222c02ba39e12a9866fa64cdae5d:80955",
    "linear-btc-120-bounded": "987b5e9470ca49803d950cb24e2b899ba3305514351c2d8104240676861df667:85403",
    "linear-btc-15-bounded": "4b5175040d8e3ea42ef57ae824bb23ec31b2142ab06176cf581bc2f2872edd66:83403",
    "linear-btc-240-bounded": "696820389890ebd21e73e98ddbba295a23bb1e54c63dc30265b62e549b2fe932:86273",
    "linear-btc-3-bounded": "377f234c463f0d76bf6e55a4a3592f903947028a6d979dd13bd13de3880d007d:81780",
    "linear-btc-30-bounded": "614d2dc12fffd2ed36a7b4a20e0d77bf8f3d41a89d2da10bb8fd49116934868e:84130",
    "linear-btc-360-bounded": "736ce33d76f94a0a5d56838ec559e721b7d1df1f7a3227bcaad66a57c981df48:86715",
    "linear-btc-5-bounded": "3456b88c4fb4aa8cc602cae481fe05573cdcafe3a26c601eb298a63350aaadfa:82535",
    "linear-btc-60-bounded": "9309179bbb0c730d29f980b33f4f2bbad0d0812b0d67e0776c8d325ec8c10c17:84876",
    "linear-btc-720-bounded": "55b84fe499476ad5154455e890de686b704d4a5c155af55cab898ccd4638313f:69061",
    "linear-btc-D-bounded": "ee8bb277cff51c1dc340be66cae61573bd751d42bf4d50232c9c355b224de8c8:34835",
    "linear-btc-M-bounded": "b7023f35cc1eb02365c2c3542d41b533e105331a24bd5669e394400c58cca17e:1317",
    "linear-btc-W-bounded": "a2c75f04ac37dd1af17c860b5b4ce1fd543a05fa41d42054b3b81be62b7beee3:5216",
    "linear-doge-1-latest-1000": "70351f474489118ce5c69016a90a4f00916a6dadfe46676af5f95c6c3e9b027b:81276",
    "linear-eth-1-latest-1000": "1445acbe4e8be3ed302643a0ed4d3096b906d99405c4497cc6127293107f2c8c:80886",
    "linear-sol-1-latest-1000": "652c1728db89516f123645601cb030ef974e11219b951c5a75167160106c7dfe:75128",
    "linear-xrp-1-latest-1000": "a0aff0173790c251b5d46524de4db78b9d775960e50c66a892ad4ed842dd82f7:76264",
    "listing-before": "d818325c5cac2b956719fb33433ec3ab7446ec1286eea2e217680a43b01d8c5e:124",
    "listing-first-day-D": "cb6cc9167793e8902d39647829ee9f1b090e08ac9176dd7100992c3c5988cabf:1908",
    "listing-first-page": "e9f7f3410be4a4dec507e0fb2ea7c4c3e6cc122687bb5bfca2ab437f14f7c0f7:72062",
    "listing-since-D-limit-1000": "938a6da2cf11571053aba899a3fef72153dc45960d925077fed6a1d44b39ce4b:79730",
    "listing-since-M": "4877dfe74c4266bddfb778910e4c4f0c7220c41d37ed7974bbe58fca4f8e47b3:5910",
    "listing-since-W": "ed2798c43a09a2559878a20fe95311d5cc1d3a40833062580fa432183ed7beeb:19681",
    "mark-default-category": "33f89f3308f6a7ba4526b97a1b62e62a030d147a65e60ac3fc45a45247881313:9501",
    "mark-inverse-D-latest": "2c4dd85a971f045032598f981eddaec3aca5a8fff059cc6673be85f5581ce6dd:54317",
    "mark-linear-1-latest-1000": "f0229bea5c6bc62998b7c9562e4a91de4cba8421b1001c61182492b7c8141870:57375",
    "mark-linear-gap": "cfd979d601afe5bc9f51f8625b8ece5def79c7a3f456b61231a267d39eb4f24e:1339",
    "mark-linear-xrp-60-bounded": "75e9100f71c5b40d090f56aac0452960fcdbaf4d8597087b05c7b855cfb6fe87:40005",
    "page-2023-first-short": "67be74f2d9cac3a007869ad8bf3301b127d7fbee5e35bca797ddedbba109d2df:48554",
    "page-2023-last": "34aed4dd63925d60fbe667796aee28b084b8d060591d1e4c37d4567216468baf:81141",
    "spot-5-latest": "79570181b0438dc7561e2df3d9d5798a44c38cb4088e93d59ec29bc1d8515778:86436",
    "spot-60-latest": "56c7f908c1998cf7bc25e30b3df6aa3cc3396e0c0c9049d0e5521d36d1c83d36:88552",
    "spot-720-latest": "09c09426ac92baaf95c626cfe4e82de525a884dbc02c850e2bbbcd5721f4212d:90752",
    "spot-D-latest": "728eb08e3b0a2dd9d521e8a1e78b5e4228bb6bc5a855aa183d4b56ed50cfc405:91701",
    "spot-M-latest": "aabc6f3cdf1c546f6f639fba827ca5fd25347e6e674af0805ad62bbc55ce7d0b:3490",
    "spot-W-latest": "4d1390f4bd6021daddd3d7e46a1adb34c6537f77d3582fb4a8908ad51fd7329f:14275",
    "spot-btc-1-latest-1000": "ed155beb8645513e57b28c992c843c9dd4a2cf4bae16905fabf793bb7a2732a1:90249",
    "spot-eth-1-latest-1000": "e333d392b04c518aca8c2d6acd7f4c439f72ecc1cc7eb51a8c189b8dc42cfc0e:84492",
    "spot-sol-1-latest-1000": "7a2c49cb2c2f6ce3471820d5533ac64ffd809b9c9f762025a4450542c3043c56:77059",
    "spot-xrp-1-latest-1000": "de979a1df69028b95ac9e1f71f6751c1d625d265333b27a1c3950d346e96b9fa:79035",
    "start-after-now": "a0379c3c72d68dd4cd6cfe11b076daf8576efeee396459984f19c9f4ee02467f:124",
    "start-equals-end": "9c92c085d8e7cb39d2953775d3c81a511c169afe6ccdc9d17d788685a7602486:201",
    "start-only-more-than-limit": "9648c917c4f7ec35baa798622c94caf7e260a83512e1c17dafeb46d4f893bb5f:16906",
    "unaligned-bounds": "1d8f53bb2b7dde268443051d393ede8944811957d120cd231181f47714613a64:12819",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_kline_page_bytes_are_pinned(sim: Any, case: str) -> None:
    path, params = CASES[case]

    reply = httpx.get(sim.base_url + path, params=params, timeout=30)

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert digest(reply.content) == PINNED[case]
