package mixstream

// Word lists and fragments the generator draws from. Every string here is
// safe inside a JSON string as is (no '"', '\\' or control characters)
// unless its comment says it is already escaped.

type route struct {
	method, path, format, controller, action string
	id                                       bool // path ends in "/<id>"
	status                                   int
}

var routes = []route{
	{"GET", "/orders", "html", "OrdersController", "index", false, 200},
	{"GET", "/orders/", "html", "OrdersController", "show", true, 200},
	{"GET", "/orders/", "html", "OrdersController", "show", true, 200},
	{"POST", "/orders", "html", "OrdersController", "create", false, 302},
	{"PATCH", "/orders/", "html", "OrdersController", "update", true, 302},
	{"DELETE", "/orders/", "html", "OrdersController", "destroy", true, 302},
	{"GET", "/api/v1/items/", "json", "Api::V1::ItemsController", "show", true, 200},
	{"GET", "/api/v1/items", "json", "Api::V1::ItemsController", "index", false, 200},
	{"PUT", "/api/v1/items/", "json", "Api::V1::ItemsController", "update", true, 200},
	{"GET", "/admin/settings", "html", "Admin::SettingsController", "index", false, 200},
	{"PATCH", "/admin/accounts/", "html", "Admin::AccountsController", "update", true, 302},
	{"GET", "/users/sign_in", "html", "Users::SessionsController", "new", false, 200},
	{"POST", "/users/sign_in", "html", "Users::SessionsController", "create", false, 302},
	{"GET", "/up", "html", "Rails::HealthController", "show", false, 200},
	{"GET", "/search", "html", "SearchController", "index", false, 200},
}

// statuses replaces a route's status now and then.
var statuses = []int{304, 401, 404, 422, 500}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.6533.64 Mobile Safari/537.36",
	"Faraday v2.10.1",
	"kakari-batch/1.4.2 (+https://example.com/bot)",
	"curl/8.9.0",
}

// queryParams are "key=value" pairs for query strings; each is also safe
// as a JSON member value.
var queryParams = []string{
	"page=3", "per=50", "sort=created_at", "order=desc", "q=blue+shirt",
	"utm_source=newsletter", "utm_medium=email", "utm_campaign=summer_sale_2024",
	"filter%5Bstatus%5D=shipped", "filter%5Bshop_id%5D=12",
	"ref=top_banner", "gclid=Cj0KCQjw8J2xBhCOARIsAIcPO2bZxDkd7", "fbclid=IwAR2sQx9Lq",
	"from=2024-07-01", "to=2024-07-31", "include=line_items%2Cshipping_address",
}

// paramMembers are JSON object members for lograge "params" and analytics
// "props", each starting with ','. Their keys are distinct from each other
// and from the keys those objects always have.
var paramMembers = []string{
	`,"page":"3"`, `,"per":"50"`, `,"sort":"created_at"`, `,"order":"desc"`,
	`,"q":"blue shirt"`, `,"utm_source":"newsletter"`, `,"utm_medium":"email"`,
	`,"utm_campaign":"summer_sale_2024"`, `,"ref":"top_banner"`,
	`,"filter":{"status":"shipped","shop_id":"12"}`, `,"include":["line_items","shipping_address"]`,
	`,"gclid":"Cj0KCQjw8J2xBhCOARIsAIcPO2bZxDkd7"`, `,"authenticity_token":"[FILTERED]"`,
	`,"commit":"Update Order"`, `,"from":"2024-07-01","to":"2024-07-31"`,
}

type table struct {
	model, name string
	columns     []string // for explicit SELECT lists
}

var tables = []table{
	{"Order", "orders", []string{"id", "user_id", "shop_id", "status", "total_cents", "currency", "note", "shipped_at", "created_at", "updated_at"}},
	{"User", "users", []string{"id", "email", "name", "locale", "time_zone", "sign_in_count", "last_sign_in_at", "created_at", "updated_at"}},
	{"Shop::Item", "shop_items", []string{"id", "shop_id", "sku", "title", "price_cents", "stock", "published", "created_at", "updated_at"}},
	{"Admin::Account", "admin_accounts", []string{"id", "email", "role", "otp_required", "locked_at", "created_at", "updated_at"}},
	{"Invoice", "invoices", []string{"id", "order_id", "number", "amount_cents", "issued_on", "external_id", "created_at", "updated_at"}},
}

var analyticsEvents = []string{"page_view", "page_view", "click", "add_to_cart", "search", "checkout_started", "sign_up"}

var referrers = []string{
	"https://www.google.com/", "https://t.co/abc123", "https://example.com/campaign/summer",
	"", "https://www.bing.com/search?q=kakari", "https://news.example.jp/articles/2024/08/06",
}

// rubyLevels are Ruby Logger severity prefixes with their padded names.
var rubyLevels = []string{"I", " INFO", "I", " INFO", "I", " INFO", "D", "DEBUG", "W", " WARN", "E", "ERROR"}

// pumaLines and stackFrames are plain text only: some contain '"'.
var pumaLines = []string{
	"Puma starting in cluster mode...",
	"* Puma version: 6.4.2 (ruby 3.3.4-p94) (\"The Eagle of Durango\")",
	"*  Min threads: 5",
	"*  Max threads: 5",
	"*  Environment: production",
	"*   Master PID: 1",
	"*      Workers: 2",
	"*     Restarts: (✔) hot (✖) phased",
	"* Listening on http://0.0.0.0:3000",
	"Use Ctrl-C to stop",
	"[1] - Worker 0 (PID: 12) booted in 0.51s, phase: 0",
	"[1] - Worker 1 (PID: 14) booted in 0.53s, phase: 0",
}

var stackFrames = []string{
	"app/controllers/orders_controller.rb:42:in 'OrdersController#show'",
	"app/models/order.rb:118:in 'Order#ship!'",
	"app/services/checkout/complete.rb:27:in 'Checkout::Complete#call'",
	"activerecord (7.1.3.4) lib/active_record/core.rb:253:in 'find'",
	"actionpack (7.1.3.4) lib/action_controller/metal/basic_implicit_render.rb:6:in 'send_action'",
	"rack (3.1.7) lib/rack/runtime.rb:24:in 'call'",
}

// Columns and values for audit changes. Strings are safe inside JSON.
var (
	statusValues = []string{"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}
	roleValues   = []string{"viewer", "operator", "admin", "owner"}
	nameValues   = []string{"Alice Example", "Bob Sample", "Carol Test", "Dave Placeholder", "Eve Demo"}
	emailValues  = []string{"alice@example.com", "bob@example.org", "carol@example.net", "ops+alerts@example.com"}
	titleValues  = []string{"Blue shirt", "Canvas tote bag", "Ceramic mug (350ml)", "Wool socks, 3 pairs", "Gift card"}
	memoWords    = []string{
		"customer ", "requested ", "gift wrapping ", "and ", "delivery ", "before ", "the weekend; ",
		"address ", "corrected ", "by support ", "after ", "phone call. ", "see ticket ", "#4821 ",
	}
)

var userTypes = []string{"Admin::Account", "Admin::Account", "User"}

// Japanese text.
var (
	jaNames     = []string{"山田太郎", "山田花子", "佐藤健", "鈴木一郎", "高橋美咲", "田中陽子"}
	jaAddresses = []string{
		"東京都渋谷区神南1-2-3 渋谷ビル5階", "大阪府大阪市北区梅田3-1-1", "北海道札幌市中央区北1条西2丁目",
		"福岡県福岡市博多区博多駅前2-1-1", "京都府京都市下京区烏丸通七条下ル",
	}
	jaMessages = []string{
		"ユーザー登録が完了しました", "注文を確定しました", "在庫が不足しています", "決済処理に失敗しました（カード会社の承認が得られませんでした）",
		"配送先住所を更新しました", "パスワード再設定メールを送信しました", "セッションの有効期限が切れました",
	}
	jaFiller = []string{
		"お客様からの問い合わせにより、", "配送日時を変更しました。", "担当者：", "山田", "、", "確認済み。",
		"返品の受付を完了しました。", "次回入荷は来週の予定です。", "ご不便をおかけして申し訳ございません。",
	}
)

var sdkActions = []string{"user.login", "user.login", "user.logout", "secret.view", "create", "update", "update", "delete", "role.grant", "export.download"}

var sdkSources = []string{"app:kakari", "app:kakari", "app:shop", "worker:billing"}

var sdkTenants = []string{"default", "default", "default", "acme", "globex"}

// sdkMetaMembers pad the KansaSDK "meta" object; each starts with ','.
// Their keys are distinct and not "sdk" or "error".
var sdkMetaMembers = []string{
	`,"feature_flags":["new_checkout","dark_mode"]`, `,"client":"web"`, `,"client_version":"2024.08.1"`,
	`,"mfa":"totp"`, `,"reason":"customer request via support ticket 4821"`, `,"region":"ap-northeast-1"`,
	`,"caller":"app/controllers/admin/orders_controller.rb:57"`, `,"sso":{"provider":"okta","subject":"00u1a2b3c4d5e6f7g8h9"}`,
}
