"""Every Bybit v5 REST path bst knows of that the simulator does not serve (Bybit's own list, 2026).

The simulator answers these with retCode 10017 and a message saying the simulator does not
implement them, never with a bare 404: a client calling a real Bybit endpoint learns at once that
it reached a simulator without it. Paths outside this list and the endpoint table get Bybit's
answer to an unknown path. Source: the endpoint enums of Bybit's official SDK (pybit 5.17).
"""

from __future__ import annotations

_BY_SECTION: dict[str, str] = {
    "/v5/account": (
        "borrow borrow-history collateral-info contract-transaction-log demo-apply-money instruments-info "
        "mmp-modify mmp-reset mmp-state no-convert-repay query-dcp-info quick-repayment repay "
        "set-collateral-switch set-collateral-switch-batch set-delta-mode set-hedging-mode "
        "set-limit-px-action smp-group upgrade-to-uta user-setting-config withdrawal "
    ),
    "/v5/affiliate": ("aff-user-list affiliate-sub-list "),
    "/v5/announcements": ("index "),
    "/v5/apilimit": ("query query-all query-cap set "),
    "/v5/asset": (
        "asset-overview coin-greeks coin/query-info covert/get-quote covert/small-balance-execute "
        "covert/small-balance-history covert/small-balance-list delivery-record "
        "deposit/deposit-to-account deposit/query-address deposit/query-allowed-list "
        "deposit/query-internal-record deposit/query-record deposit/query-sub-member-address "
        "deposit/query-sub-member-record exchange/convert-execute exchange/convert-result-query "
        "exchange/order-record exchange/query-coin-list exchange/query-convert-history "
        "exchange/quote-apply fundinghistory settlement-record transfer/inter-transfer "
        "transfer/query-account-coin-balance transfer/query-asset-info transfer/query-inter-transfer-list "
        "transfer/query-sub-member-list transfer/query-transfer-coin-list "
        "transfer/query-universal-transfer-list transfer/save-transfer-sub-member "
        "transfer/universal-transfer withdraw/cancel withdraw/create withdraw/query-address "
        "withdraw/query-record withdraw/vasp/list withdraw/withdrawable-amount "
    ),
    "/v5/broker": (
        "account-info apilimit/query-all apilimit/query-cap apilimit/set "
        "asset/query-sub-member-deposit-record award/distribute-award award/distribution-record "
        "award/info earning-record earnings-info "
    ),
    "/v5/crypto-loan": (
        "adjust-ltv adjustment-history borrow borrow-history borrowable-collateralisable-number "
        "collateral-data loanable-data max-collateral-amount ongoing-orders repay repayment-history "
    ),
    "/v5/crypto-loan-common": (
        "adjust-ltv adjustment-history collateral-data loanable-data max-collateral-amount max-loan position "
    ),
    "/v5/crypto-loan-fixed": (
        "borrow borrow-contract-info borrow-order-cancel borrow-order-info borrow-order-quote fully-repay "
        "renew renew-info repay-collateral repayment-history supply supply-contract-info "
        "supply-order-cancel supply-order-info supply-order-quote "
    ),
    "/v5/crypto-loan-flexible": (
        "borrow borrow-history ongoing-coin repay repay-collateral repayment-history "
    ),
    "/v5/earn": (
        "advance/double-win-leverage advance/get-redeem-est-amount-list advance/order advance/place-order "
        "advance/position advance/product advance/product-extra-info apr-history coupons fixed-term/order "
        "fixed-term/place-order fixed-term/position fixed-term/position/auto-invest fixed-term/product "
        "fixed-term/redeem hold-to-earn/product hold-to-earn/yield-history hourly-yield "
        "liquidity-mining/add-liquidity liquidity-mining/add-margin liquidity-mining/claim-interest "
        "liquidity-mining/liquidation-records liquidity-mining/order liquidity-mining/position "
        "liquidity-mining/product liquidity-mining/reinvest liquidity-mining/remove-liquidity "
        "liquidity-mining/yield-records order place-order position position/modify product "
        "pwm/asset-manager/all-funds pwm/asset-manager/all-order pwm/asset-manager/create-fund "
        "pwm/asset-manager/create-investment-plan pwm/asset-manager/create-sub-account "
        "pwm/asset-manager/get-investment-plan pwm/asset-manager/manage-investment-plan "
        "pwm/asset-manager/manage-order pwm/asset-manager/settle-profit pwm/customize-plan/create "
        "pwm/customize-plan/product pwm/fund-transfer pwm/investment-plan/all "
        "pwm/investment-plan/asset-trend pwm/investment-plan/claim pwm/investment-plan/detail "
        "pwm/investment-plan/fund-nav pwm/investment-plan/invest-more pwm/investment-plan/new-plan "
        "pwm/investment-plan/order pwm/investment-plan/redeem pwm/investment-plan/subscribe "
        "pwm/query-fund-transfer-result rwa/nav-chart rwa/order rwa/place-order rwa/position rwa/product "
        "token/history-apr token/hourly-yield token/order token/place-order token/position token/product "
        "token/yield yield "
    ),
    "/v5/fiat": (
        "balance-query query-coin-list query-trade-history quote-apply reference-price trade-execute "
        "trade-query "
    ),
    "/v5/ins-loan": (
        "association-uid ensure-tokens-convert loan-order ltv-convert product-infos repaid-history "
        "repay-loan "
    ),
    "/v5/market": (
        "account-ratio adlAlert delivery-price fee-group-info historical-volatility "
        "index-price-components insurance new-delivery-price premium-index-price-kline price-limit "
        "rpi_orderbook "
    ),
    "/v5/order": ("disconnected-cancel-all pre-check spot-borrow-check "),
    "/v5/p2p": (
        "chat/message/listpage chat/message/send chat/session/list item/cancel item/create item/info "
        "item/online item/personal/list item/update order/finish order/info order/message/listpage "
        "order/message/send order/pay order/pending/simplifyList order/simplifyList oss/upload_file "
        "user/order/personal/info user/payment/list user/personal/info "
    ),
    "/v5/position": (
        "add-margin confirm-pending-mmr get-closed-positions move-history move-positions "
        "set-auto-add-margin set-risk-limit set-tpsl-mode switch-isolated "
    ),
    "/v5/pre-upgrade": (
        "account/transaction-log asset/delivery-record asset/settlement-record execution/list "
        "order/history position/closed-pnl "
    ),
    "/v5/rfq": (
        "accept-other-quote cancel-all-quotes cancel-all-rfq cancel-quote cancel-rfq config create-quote "
        "create-rfq execute-quote public-trades quote-list quote-realtime rfq-list rfq-realtime "
        "trade-list "
    ),
    "/v5/spot-cross-margin-trade": (
        "account borrow-token data loan loan-info orders pledge-token repay repay-history switch "
    ),
    "/v5/spot-lever-token": ("info order-record purchase redeem reference "),
    "/v5/spot-margin-trade": (
        "coinstate collateral currency-data data get-auto-repay-mode interest-rate-history max-borrowable "
        "position-tiers repayment-available-amount set-auto-repay-mode set-leverage state switch-mode "
    ),
    "/v5/spread": (
        "execution/list instrument order/amend order/cancel order/cancel-all order/create order/history "
        "order/realtime orderbook recent-trade tickers "
    ),
    "/v5/system": ("status "),
    "/v5/user": (
        "aff-customer-info agreement create-sub-api create-sub-member del-submember delete-api "
        "delete-sub-api escrow_sub_members frozen-sub-member get-member-type invitation/referrals "
        "query-sub-members sub-apikeys submembers update-api update-sub-api "
    ),
}

UNSERVED_PATHS = frozenset(
    f"{section}/{name}" for section, names in _BY_SECTION.items() for name in names.split()
)
"""Full paths (`/v5/...`) of Bybit endpoints the simulator does not implement."""


def is_unserved_bybit_path(path: str) -> bool:
    """Return whether `path` is a Bybit v5 REST endpoint the simulator does not implement."""
    return path in UNSERVED_PATHS
