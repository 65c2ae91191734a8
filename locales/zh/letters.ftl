# 发给发件域 postmaster 的证据信函（spfsleuth scan --reports）。

subject-misconfigured = SPF：{$domain} 的 SPF 记录未包含您的发信服务器
subject-record-broken = SPF：{$domain} 的 SPF 记录有错误
subject-regressed = SPF：{$domain} 的 SPF 记录不再授权您的邮件
subject-fixed-since = SPF：已解决，{$domain} 的 SPF 记录现在授权您的邮件
subject-unauthorized = SPF：来自 {$domain} 未授权服务器的邮件

greeting = {$domain} 的 postmaster 您好：
rfc2142 = （本邮件发送至 postmaster@{$domain}，这是 RFC 2142 为域名邮件服务事务保留的地址。请转交负责 {$domain} DNS 的同事。）

heading-what = 发生了什么
what-rejected = 信封发件人为 {$senders} 的 {$count} 封邮件于 {$span} 从 {$ips} 发送给我们。我们的邮件服务器检查 SPF 的结果为“{$result}”，并拒收了这些邮件：它们没有被投递。
what-delivered = 信封发件人为 {$senders} 的 {$count} 封邮件于 {$span} 从 {$ips} 发送给我们。我们的邮件服务器检查 SPF 的结果为“{$result}”，这些邮件被标记为可疑邮件并投递到了垃圾邮件文件夹。
what-notice = 信封发件人为 {$senders} 的 {$count} 封邮件于 {$span} 从 {$ips} 发送给我们。

heading-why = 原因
why-misconfigured = 信封发件人为 {$senders} 的邮件从 {$ips} 发出，{$related} 的记录包含该地址（{$related-directive}），但 {$domain} 的记录不包含。{$domain} 现在的记录：
why-not-listed = 信封发件人为 {$senders} 的邮件从 {$ips} 发出，但 {$domain} 的 SPF 记录中没有列出该地址。{$domain} 现在的记录：
why-decided = 对 {$ips} 起决定作用的是“{$directive}”，因此收件方得到的结果是“{$result}”。
why-record-broken = {$domain} 的 SPF 记录有错误，所有检查它的收件服务器都会得到“permerror”，很多服务器会把邮件当作未经认证处理。现在的记录：
why-error = 错误：{$error}
why-regressed = 这些邮件在接收时通过了 SPF，但按照 {$domain} 现在发布的记录，结果是“{$result}”。现在的记录：
why-fixed-since = 这些邮件在接收时未通过 SPF，但按照 {$domain} 现在发布的记录可以通过。无需修改，仅此告知。
why-unauthorized = 这些服务器没有被 {$domain} 授权，也没有迹象表明它们代表 {$domain} 发信：可能有人在冒用您的域名。{$domain} 现在的记录：

heading-fix = 如何修改
fix-publish = 请将以下记录发布为 {$domain} 的 TXT 记录，替换现在的记录：
fix-changes = 修改内容：
change-added = 为您的发信服务器添加 {$term}
change-repaired = 将“{$wrong}”改为“{$right}”
change-dropped = 删除 {$term}：{$why}
fix-proven = 我们已用当前的 DNS（{$time}）验证此记录：使用它时 {$ips} 可以通过 SPF，记录没有错误，DNS 查询次数为 {$lookups} 次（上限 {$limit} 次）。
fix-unproven = 我们未能得出可以验证的修正记录（{$why}）。请确认 {$domain} 的记录列出了所有以 {$domain} 作为信封发件人发信的服务器。
fix-none = 无需修改。

heading-evidence = 证据
evidence = 附件是我们收到的其中最多五封邮件的邮件头（或邮件服务器的日志行），以及判定时使用的 DNS 应答（附查询时间）。
signature = 此致
    {$from}
footer = （由 spfsleuth 根据邮件头和当前的 DNS 生成。）
english-below = 以下是同一封信的英文版本。
what-mixed = 信封发件人为 {$senders} 的 {$count} 封邮件于 {$span} 从 {$ips} 发送给我们。我们的邮件服务器检查 SPF 的结果为“{$result}”：其中 {$rejected} 封被拒收，{$delivered} 封被标记为可疑邮件并投递到了垃圾邮件文件夹。
