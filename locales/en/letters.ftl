# Evidence letters to a sender domain's postmaster (spfsleuth scan --reports).
# Placeables: $domain, $count, $span, $senders, $ips, $result, $record, $directive,
# $related, $related-directive, $error, $proposed, $lookups, $limit, $why, $time, $from.

subject-misconfigured = SPF: {$domain} does not list the server your mail is sent from
subject-record-broken = SPF: the SPF record of {$domain} has an error
subject-regressed = SPF: the SPF record of {$domain} no longer covers your mail
subject-fixed-since = SPF: resolved, the SPF record of {$domain} now covers your mail
subject-unauthorized = SPF: mail using {$domain} from servers it does not list

greeting = To the postmaster of {$domain},
rfc2142 = (We write to postmaster@{$domain}, the address RFC 2142 reserves for mail about a domain's mail service. Please pass this on to whoever manages the DNS of {$domain}.)

heading-what = What happened
what-rejected = {$count} message(s) with the envelope sender {$senders} were sent to us {$span} from {$ips}. Our mail server checked SPF, got the result "{$result}", and refused them: they were not delivered.
what-delivered = {$count} message(s) with the envelope sender {$senders} were sent to us {$span} from {$ips}. Our mail server checked SPF, got the result "{$result}", and delivered them marked as suspicious: they ended up in a spam folder.
what-notice = {$count} message(s) with the envelope sender {$senders} were sent to us {$span} from {$ips}.

heading-why = Why
why-misconfigured = Your mail with the envelope sender {$senders} is sent from {$ips}, which the record of {$related} covers ({$related-directive}) but the record of {$domain} does not. The record of {$domain} is now:
why-not-listed = Your mail with the envelope sender {$senders} is sent from {$ips}, which the SPF record of {$domain} does not list. The record of {$domain} is now:
why-decided = For {$ips} the term that decides is "{$directive}", so receivers get "{$result}".
why-record-broken = The SPF record of {$domain} has an error, so every receiver that checks it gets "permerror" and many treat the mail as unauthenticated. The record is now:
why-error = The error: {$error}
why-regressed = This mail passed SPF when it was received, but with the record {$domain} publishes now it gets "{$result}". The record is now:
why-fixed-since = This mail failed SPF when it was received, but with the record {$domain} publishes now it passes. No change is needed; this is only to let you know.
why-unauthorized = These servers are not listed by {$domain} and nothing suggests they send for it: this may be somebody else using your domain. The record of {$domain} is now:

heading-fix = What to change
fix-publish = Publish this record as the TXT record of {$domain}, in place of the current one:
fix-changes = The changes:
change-added = added {$term}, for the server that sends your mail
change-repaired = "{$wrong}" corrected to "{$right}"
change-dropped = removed {$term}: {$why}
fix-proven = We checked this record with the DNS as it is now ({$time}): with it {$ips} pass SPF, it has no errors, and it uses {$lookups} of the {$limit} DNS lookups allowed.
fix-unproven = We could not work out a corrected record we could check ({$why}). Please make sure the record of {$domain} lists every server that sends mail with {$domain} in the envelope sender.
fix-none = Nothing to change.

heading-evidence = Evidence
evidence = Attached are the headers of up to five of these messages as we received them (or the lines our mail server logged), and the DNS answers we used, each with the time it was queried.
signature = Regards,
    {$from}
footer = (Written by spfsleuth from the headers of the messages and the DNS as it is now.)
english-below = The same letter in English follows.
what-mixed = {$count} message(s) with the envelope sender {$senders} were sent to us {$span} from {$ips}. Our mail server checked SPF and got the result "{$result}": it refused {$rejected} of them, and delivered {$delivered} marked as suspicious (they ended up in a spam folder).
