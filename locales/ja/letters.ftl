# 送信ドメインの postmaster 宛て証拠レター（spfsleuth scan --reports）。

subject-misconfigured = SPF: {$domain} の SPF レコードに送信サーバーが含まれていません
subject-record-broken = SPF: {$domain} の SPF レコードに誤りがあります
subject-regressed = SPF: {$domain} の SPF レコードが送信メールを許可しなくなりました
subject-fixed-since = SPF: 解決済み：{$domain} の SPF レコードが送信メールを許可するようになりました
subject-unauthorized = SPF: {$domain} が許可していないサーバーからのメール

greeting = {$domain} の postmaster 様
rfc2142 = （このメールは、ドメインのメールサービスに関する連絡先として RFC 2142 が定める postmaster@{$domain} 宛てにお送りしています。{$domain} の DNS のご担当者様にご転送ください。）

heading-what = 発生したこと
what-rejected = エンベロープ送信者 {$senders} のメール {$count} 通が、{$span}、{$ips} から当方に送信されました。当方のメールサーバーで SPF を検査した結果は「{$result}」で、これらのメールは受信拒否され、配送されていません。
what-delivered = エンベロープ送信者 {$senders} のメール {$count} 通が、{$span}、{$ips} から当方に送信されました。当方のメールサーバーで SPF を検査した結果は「{$result}」で、これらのメールは不審なメールとして迷惑メールフォルダに配送されました。
what-notice = エンベロープ送信者 {$senders} のメール {$count} 通が、{$span}、{$ips} から当方に送信されました。

heading-why = 原因
why-misconfigured = エンベロープ送信者 {$senders} のメールは {$ips} から送信されています。このアドレスは {$related} のレコードには含まれています（{$related-directive}）が、{$domain} のレコードには含まれていません。{$domain} の現在のレコード：
why-not-listed = エンベロープ送信者 {$senders} のメールは {$ips} から送信されていますが、このアドレスは {$domain} の SPF レコードに含まれていません。{$domain} の現在のレコード：
why-decided = {$ips} については「{$directive}」が判定を決めるため、受信側の結果は「{$result}」になります。
why-record-broken = {$domain} の SPF レコードに誤りがあるため、検査するすべての受信サーバーで結果が「permerror」になり、多くの場合メールは認証されていないものとして扱われます。現在のレコード：
why-error = 誤り：{$error}
why-regressed = これらのメールは受信時には SPF に合格していましたが、{$domain} が現在公開しているレコードでは「{$result}」になります。現在のレコード：
why-fixed-since = これらのメールは受信時には SPF に不合格でしたが、{$domain} が現在公開しているレコードでは合格します。変更は不要です。お知らせのみです。
why-unauthorized = これらのサーバーは {$domain} に許可されておらず、{$domain} のために送信している形跡もありません。第三者によるドメインの不正使用の可能性があります。{$domain} の現在のレコード：

heading-fix = 修正方法
fix-publish = 現在のレコードに代えて、次のレコードを {$domain} の TXT レコードとして公開してください：
fix-changes = 変更点：
change-added = 送信サーバーのために {$term} を追加
change-repaired = 「{$wrong}」を「{$right}」に訂正
change-dropped = {$term} を削除：{$why}
fix-proven = このレコードは現在の DNS（{$time}）で確認済みです：{$ips} は SPF に合格し、誤りはなく、DNS 参照は上限 {$limit} 回のうち {$lookups} 回です。
fix-unproven = 確認できる修正レコードを作成できませんでした（{$why}）。{$domain} をエンベロープ送信者に使うすべての送信サーバーが {$domain} のレコードに含まれていることをご確認ください。
fix-none = 変更は不要です。

heading-evidence = 証拠
evidence = 添付ファイルは、受信したメールのうち最大 5 通のヘッダー（またはメールサーバーのログ行）と、判定に使った DNS の応答（照会時刻付き）です。
signature = よろしくお願いいたします。
    {$from}
footer = （spfsleuth がメールのヘッダーと現在の DNS から作成しました。）
english-below = 以下に同じ内容を英語で記載します。
what-mixed = エンベロープ送信者 {$senders} のメール {$count} 通が、{$span}、{$ips} から当方に送信されました。当方のメールサーバーで SPF を検査した結果は「{$result}」で、{$rejected} 通は受信拒否され、{$delivered} 通は不審なメールとして迷惑メールフォルダに配送されました。
