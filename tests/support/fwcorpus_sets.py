"""Real-world style rule sets for the firewall corpus (tests/fixtures/firewall/corpus/).

Each is what an operator or a tool types (ufw commands, iptables commands, an
``nft -f`` file), run in a private gateway namespace of bench/fwdiff_lab.py; the
fixtures are what iptables-save, ip6tables-save, their legacy variants and nft
print afterwards, and what the kernel did to real SYNs (``capture`` in
tests/support/fwcorpus.py).  Networks come from the lab's sender pools
(172.16.0.0/12, 2001:db8::/32); ``nets`` lists those a rule set names, so that
senders inside, at the edges of and outside each are tried.
"""

from __future__ import annotations

SETS: dict[str, tuple[str, list[str]]] = {}


def nft(text: str) -> str:
    return f"nft -f - <<'EOF'\n{text}\nEOF\n"


SETS["ufw_basic"] = (
    """
ufw --force reset >/dev/null
ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
ufw allow 25/tcp >/dev/null
ufw limit 22/tcp >/dev/null
ufw allow from 172.20.0.0/16 to any port 10050 >/dev/null
ufw route allow proto tcp from any to any port 3306 >/dev/null
ufw --force enable >/dev/null
""",
    ["172.20.0.0/16"],
)

SETS["ufw_more"] = (
    """
ufw --force reset >/dev/null
sed -i '0,/^COMMIT/s//-A ufw-before-input -p tcp --dport 3310 -j ACCEPT\\nCOMMIT/' /etc/ufw/before.rules
sed -i '0,/^COMMIT/s//-A ufw-after-input -p tcp --dport 11333 -j ACCEPT\\nCOMMIT/' /etc/ufw/after.rules
sed -i '0,/^COMMIT/s//-A ufw6-before-input -p tcp --dport 11333 -j DROP\\nCOMMIT/' /etc/ufw/before6.rules
ufw default deny incoming >/dev/null
ufw allow 25/tcp >/dev/null
ufw allow in on sa to any port 587 proto tcp >/dev/null
ufw deny from 172.20.5.0/24 >/dev/null
ufw insert 1 deny from 172.20.6.7 to any port 25 >/dev/null
ufw reject 6379/tcp >/dev/null
ufw allow 10031:10032/tcp >/dev/null
ufw allow proto tcp from 2001:db8:1::/48 to any port 11332 >/dev/null
ufw allow from 172.21.0.0/16 to any port 3306 proto tcp >/dev/null
ufw limit 465/tcp >/dev/null
ufw allow 80,443/tcp >/dev/null
ufw route allow in on sa out on sb to any port 10050 proto tcp >/dev/null
ufw --force enable >/dev/null
""",
    ["172.20.5.0/24", "172.20.6.7/32", "172.21.0.0/16", "2001:db8:1::/48"],
)

SETS["ufw_default_allow"] = (
    """
ufw --force reset >/dev/null
ufw default allow incoming >/dev/null
ufw deny 3306/tcp >/dev/null
ufw deny from 172.20.0.0/16 to any port 6379 >/dev/null
ufw reject in on sb to any port 10050 >/dev/null
ufw --force enable >/dev/null
""",
    ["172.20.0.0/16"],
)

SETS["ufw_noipv6"] = (
    """
ufw --force reset >/dev/null
sed 's/^IPV6=.*/IPV6=no/' /etc/default/ufw > /tmp/ufwdef.$$ && cat /tmp/ufwdef.$$ > /etc/default/ufw
ufw default deny incoming >/dev/null
ufw allow 25/tcp >/dev/null
ufw --force enable >/dev/null
""",
    [],
)

SETS["ipt_classic"] = (
    """
iptables -P INPUT DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -m state --state INVALID -j DROP
iptables -A INPUT -p tcp -m multiport --dports 25,465,587 -m conntrack --ctstate NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -m iprange --src-range 172.20.0.10-172.20.0.50 -j ACCEPT
iptables -A INPUT -p tcp ! -s 172.21.0.0/16 --dport 443 -j ACCEPT
iptables -A INPUT -p tcp --dport 10050 -s 172.22.0.0/16 -j ACCEPT
iptables -A INPUT -p tcp --dport 3306 -j REJECT --reject-with icmp-host-prohibited
iptables -A INPUT -p tcp --dport 6379 -j REJECT --reject-with tcp-reset
iptables -A INPUT -i sa -p tcp --dport 11332 -j ACCEPT
iptables -A INPUT -p tcp --dport 11333 -m hashlimit --hashlimit-upto 50/sec --hashlimit-burst 100 \
--hashlimit-mode srcip --hashlimit-name h1 -j ACCEPT
iptables -A INPUT -p tcp --dport 3310 -m connlimit --connlimit-above 20 -j REJECT
iptables -A INPUT -p tcp --dport 3310 -j ACCEPT
iptables -A INPUT -p tcp --dport 10031 -m recent --name r1 --set
iptables -A INPUT -p tcp --dport 10031 -m recent --name r1 --update --seconds 60 --hitcount 10 -j DROP
iptables -A INPUT -p tcp --dport 10031 -j ACCEPT
iptables -A INPUT -p tcp --dport 10032 -m limit --limit 10/s --limit-burst 50 -j ACCEPT
iptables -A INPUT -j REJECT --reject-with icmp-port-unreachable
ip6tables -P INPUT DROP
ip6tables -A INPUT -i lo -j ACCEPT
ip6tables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
ip6tables -A INPUT -p tcp -m multiport --dports 25,80,443 -j ACCEPT
ip6tables -A INPUT -p tcp --dport 10050 -s 2001:db8:5::/48 -j ACCEPT
ip6tables -A INPUT -p tcp --dport 3306 -j REJECT --reject-with icmp6-adm-prohibited
ip6tables -A INPUT -p tcp -m tcp --dport 6379 ! --syn -j ACCEPT
""",
    ["172.20.0.10/32", "172.20.0.50/32", "172.20.0.0/27", "172.21.0.0/16", "172.22.0.0/16", "2001:db8:5::/48"],
)

SETS["ipt_ipset"] = (
    """
ipset create blk hash:net
ipset add blk 172.20.5.0/24
ipset create allow6 hash:net family inet6
ipset add allow6 2001:db8:7::/48
iptables -A INPUT -m set --match-set blk src -j DROP
iptables -A INPUT -p tcp --dport 25 -j ACCEPT
iptables -A INPUT -p tcp --dport 3306 -m set --match-set blk src -j ACCEPT
iptables -A INPUT -p tcp --dport 80 -m set ! --match-set blk src -j ACCEPT
iptables -P INPUT DROP
ip6tables -A INPUT -p tcp --dport 10050 -m set --match-set allow6 src -j ACCEPT
ip6tables -A INPUT -p tcp --dport 25 -j ACCEPT
ip6tables -P INPUT DROP
ipset create f2b-sasl hash:ip timeout 600
ipset add f2b-sasl 172.20.6.6
ipset add f2b-sasl 172.20.6.9
ipset create nets24 hash:ip netmask 24
ipset add nets24 172.22.3.77
ipset create lab bitmap:ip range 172.23.0.0-172.23.0.255
ipset add lab 172.23.0.16/30
ipset create pairs hash:ip,port
ipset add pairs 172.20.1.1,tcp:10031
ipset create except hash:net
ipset add except 172.24.0.0/16
ipset add except 172.24.1.0/24 nomatch
iptables -I INPUT 1 -p tcp -m multiport --dports 465,587 -m set --match-set f2b-sasl src -j REJECT
iptables -A INPUT -p tcp --dport 6379 -m set --match-set nets24 src -j ACCEPT
iptables -A INPUT -p tcp --dport 11332 -m set --match-set lab src -j ACCEPT
iptables -A INPUT -p tcp -m multiport --dports 465,587 -j ACCEPT
iptables -A INPUT -p tcp --dport 10031 -m set --match-set pairs src,dst -j ACCEPT
iptables -A INPUT -p tcp --dport 10032 -m set --match-set except src -j ACCEPT
""",
    [
        "172.20.5.0/24",
        "2001:db8:7::/48",
        "172.20.6.6/32",
        "172.20.6.9/32",
        "172.22.3.0/24",
        "172.23.0.16/30",
        "172.20.1.1/32",
        "172.24.0.0/16",
        "172.24.1.0/24",
    ],
)

SETS["ipt_f2b_docker"] = (
    """
iptables -N f2b-postfix
iptables -A f2b-postfix -s 172.20.9.9/32 -j REJECT --reject-with icmp-port-unreachable
iptables -A f2b-postfix -j RETURN
iptables -N f2b-nginx
iptables -A f2b-nginx -s 172.20.8.0/24 -j DROP
iptables -A f2b-nginx -j RETURN
iptables -N DOCKER
iptables -N DOCKER-USER
iptables -N DOCKER-ISOLATION-STAGE-1
iptables -A FORWARD -j DOCKER-USER
iptables -A FORWARD -j DOCKER-ISOLATION-STAGE-1
iptables -A DOCKER-USER -j RETURN
iptables -A DOCKER-ISOLATION-STAGE-1 -j RETURN
iptables -A INPUT -p tcp -m multiport --dports 25,465,587 -j f2b-postfix
iptables -A INPUT -p tcp -m multiport --dports 80,443 -j f2b-nginx
iptables -A INPUT -p tcp -m multiport --dports 25,465,587,80,443 -j ACCEPT
iptables -P INPUT DROP
iptables -t nat -N DOCKER
iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
iptables -t nat -A DOCKER -i docker0 -j RETURN
iptables -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
""",
    ["172.20.9.9/32", "172.20.8.0/24"],
)

SETS["ipt_raw_mangle"] = (
    """
iptables -t raw -A PREROUTING -p tcp --dport 6379 -j DROP
iptables -t raw -A PREROUTING -p tcp --dport 10050 -j CT --notrack
iptables -t mangle -A PREROUTING -s 172.20.0.0/16 -p tcp --dport 25 -j DROP
iptables -t mangle -A INPUT -p tcp --dport 3306 -j DROP
ip6tables -t raw -A PREROUTING -p tcp --dport 80 -j DROP
ip6tables -t mangle -A PREROUTING -i sb -p tcp --dport 443 -j DROP
""",
    ["172.20.0.0/16"],
)

SETS["ipt_nat_redirect"] = (
    """
iptables -t nat -A PREROUTING -p tcp --dport 587 -j REDIRECT --to-ports 2587
iptables -t nat -A PREROUTING -p tcp --dport 465 -j DNAT --to-destination 10.77.1.1:443
iptables -A INPUT -p tcp --dport 443 -j DROP
""",
    [],
)

SETS["ipt_legacy_and_nft"] = (
    """
iptables-legacy -A INPUT -p tcp --dport 3306 -j DROP
iptables -A INPUT -p tcp --dport 6379 -j DROP
iptables -A INPUT -p tcp --dport 25 -j ACCEPT
ip6tables-legacy -A INPUT -p tcp --dport 80 -j DROP
ip6tables-legacy -A INPUT -p tcp --dport 25 -j REJECT
""",
    [],
)

SETS["ipt_v6_open_v4_closed"] = (
    """
iptables -P INPUT DROP
iptables -A INPUT -p tcp --dport 25 -j ACCEPT
ip6tables -P INPUT ACCEPT
""",
    [],
)

SETS["ipt_mangle_policy"] = (
    """
iptables -t mangle -P INPUT DROP
iptables -t mangle -A INPUT -p tcp --dport 25 -j ACCEPT
iptables -t raw -N chk
iptables -t raw -A chk -s 172.20.0.0/16 -j DROP
iptables -t raw -A chk -j RETURN
iptables -t raw -A PREROUTING -p tcp --dport 25 -j chk
""",
    ["172.20.0.0/16"],
)

SETS["nft_firewalld"] = (
    nft("""
table inet firewalld {
	set blk { type ipv4_addr; flags interval,timeout; timeout 1h; elements = { 172.20.5.0/24 timeout 1h } }
	chain mangle_PREROUTING {
		type filter hook prerouting priority mangle + 10; policy accept;
		jump mangle_PREROUTING_ZONES
	}
	chain mangle_PREROUTING_ZONES {
		iifname "sa" goto mangle_PRE_public
		goto mangle_PRE_public
	}
	chain mangle_PRE_public {
		jump mangle_PRE_public_pre
		jump mangle_PRE_public_post
	}
	chain mangle_PRE_public_pre { }
	chain mangle_PRE_public_post { }
	chain filter_PREROUTING {
		type filter hook prerouting priority filter + 10; policy accept;
		icmpv6 type { nd-router-advert, nd-neighbor-solicit } accept
		meta nfproto ipv6 fib saddr . mark . iif oif missing drop
	}
	chain filter_INPUT {
		type filter hook input priority filter + 10; policy accept;
		ct state { established, related } accept
		ct status dnat accept
		iifname "lo" accept
		ct state invalid drop
		ip saddr @blk drop
		jump filter_INPUT_ZONES
		reject with icmpx admin-prohibited
	}
	chain filter_INPUT_ZONES {
		iifname "sb" goto filter_IN_internal
		goto filter_IN_public
	}
	chain filter_IN_public {
		jump filter_IN_public_pre
		jump filter_IN_public_log
		jump filter_IN_public_deny
		jump filter_IN_public_allow
		jump filter_IN_public_post
		meta l4proto { icmp, ipv6-icmp } accept
	}
	chain filter_IN_public_pre { }
	chain filter_IN_public_log { }
	chain filter_IN_public_deny {
		ip saddr 172.20.9.0/24 tcp dport 25 reject with icmpx admin-prohibited
	}
	chain filter_IN_public_allow {
		tcp dport 25 ct state { new, untracked } accept
		tcp dport 465 ct state { new, untracked } accept
		tcp dport 587 ct state { new, untracked } accept
		tcp dport 80 ct state { new, untracked } accept
		tcp dport 443 ct state { new, untracked } accept
		ip6 daddr fe80::/64 udp dport 546 ct state { new, untracked } accept
		ip saddr 172.21.0.0/16 tcp dport 10050 ct state { new, untracked } accept
	}
	chain filter_IN_public_post { }
	chain filter_IN_internal {
		jump filter_IN_internal_allow
		meta l4proto { icmp, ipv6-icmp } accept
	}
	chain filter_IN_internal_allow {
		tcp dport { 25, 3306, 10050 } ct state { new, untracked } accept
	}
}
"""),
    ["172.20.5.0/24", "172.20.9.0/24", "172.21.0.0/16"],
)

SETS["nft_sets_vmaps"] = (
    nft("""
table inet filter {
	set allowed4 { type ipv4_addr; flags interval; elements = { 172.20.0.0/16, 172.30.1.1-172.30.1.20 } }
	set blocked { type ipv4_addr; flags timeout; elements = { 172.20.7.7 timeout 2h } }
	set ports6 { type inet_service; flags interval; elements = { 10031-10032, 11332 } }
	set meter4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1m; }
	chain input {
		type filter hook input priority filter; policy drop;
		ct state vmap { established : accept, related : accept, invalid : drop }
		iif "lo" accept
		meta l4proto { icmp, ipv6-icmp } accept
		ip saddr @blocked counter drop comment "blocklist"
		tcp dport vmap { 25 : jump smtp, 465 : jump smtp, 587 : accept, 3306 : drop, 10050 : goto cluster }
		meta l4proto tcp th dport { 80, 443 } counter accept comment "web"
		ip saddr != 172.20.0.0/16 tcp dport 11333 drop
		tcp dport 11333 accept
		meta nfproto ipv6 tcp dport @ports6 accept
		fib daddr type local tcp dport 3310 accept
		tcp dport 6379 reject with icmpx type admin-prohibited
		tcp dport 10031 ip saddr @allowed4 accept
	}
	chain smtp {
		ct state new add @meter4 { ip saddr limit rate 50/second } accept
		meta nfproto ipv6 accept
		return
	}
	chain cluster {
		ip saddr @allowed4 accept
		ip6 saddr 2001:db8:9::/48 accept
		return
	}
}
"""),
    ["172.20.0.0/16", "172.30.1.0/27", "172.20.7.7/32", "2001:db8:9::/48"],
)

SETS["nft_multi_base"] = (
    nft("""
table inet a {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport { 25, 80, 443, 587 } accept
	}
}
table ip b {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 25 drop
	}
}
table ip6 c {
	chain input {
		type filter hook input priority -10; policy accept;
		tcp dport 443 drop
	}
}
table netdev d {
	chain ing {
		type filter hook ingress device "sa" priority 0; policy accept;
		tcp dport 6379 drop
		ip saddr 172.20.0.0/16 tcp dport 10050 drop
	}
}
table ip e {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport 3306 drop
	}
	chain nat_pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 10032 redirect to :2000
	}
}
"""),
    ["172.20.0.0/16"],
)

SETS["nft_inet_ingress"] = (
    nft("""
table inet f {
	chain ing {
		type filter hook ingress device "sb" priority 0; policy accept;
		tcp dport 11332 drop
	}
	chain input {
		type filter hook input priority 0; policy drop;
		tcp dport 11332 accept
		tcp dport 25 accept
	}
}
"""),
    [],
)

SETS["ipt_notrack"] = (
    """
iptables -t raw -A PREROUTING -p tcp --dport 10050 -j CT --notrack
iptables -t raw -A PREROUTING -p tcp --dport 3310 -j NOTRACK
iptables -t raw -A PREROUTING -p tcp --dport 11332 -j CT --notrack
iptables -P INPUT DROP
iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp -m multiport --dports 25,10050 -m conntrack --ctstate NEW -j ACCEPT
iptables -A INPUT -p tcp --dport 3310 -m state --state UNTRACKED -j ACCEPT
iptables -A INPUT -p tcp --dport 11332 -j ACCEPT
ip6tables -t raw -A PREROUTING -p tcp --dport 80 -j CT --notrack
ip6tables -P INPUT DROP
ip6tables -A INPUT -p tcp -m multiport --dports 25,80 -m state --state NEW -j ACCEPT
""",
    [],
)

SETS["nft_notrack"] = (
    nft("""
table inet raw {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		tcp dport { 10050, 3310 } notrack
	}
}
table inet f {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ct state new tcp dport { 25, 10050 } accept
		ct state untracked tcp dport 3310 accept
	}
}
"""),
    [],
)

SETS["ipt_hardening"] = (
    """
iptables -N LOGDROP
iptables -A LOGDROP -m limit --limit 5/min -j LOG --log-prefix "fw drop: " --log-level 4
iptables -A LOGDROP -j DROP
iptables -A INPUT -p tcp ! --syn -m conntrack --ctstate NEW -j DROP
iptables -A INPUT -p tcp --tcp-flags ALL NONE -j DROP
iptables -A INPUT -p tcp --tcp-flags SYN,FIN SYN,FIN -j DROP
iptables -A INPUT -p tcp --tcp-flags SYN,RST SYN,RST -j DROP
iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
iptables -A INPUT -f -j DROP
iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A INPUT -m addrtype --dst-type BROADCAST -j DROP
iptables -A INPUT -p tcp -m tcp --dport 25 -m conntrack --ctstate NEW -m recent --set --name SMTP --rsource
iptables -A INPUT -p tcp -m tcp --dport 25 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 30 \
--name SMTP --rsource -j REJECT --reject-with tcp-reset
iptables -A INPUT -p tcp -m tcp --dport 25 -m comment --comment "smtp in" -j ACCEPT
iptables -A INPUT -p tcp -m tcp --dport 443 -m connlimit --connlimit-upto 50 --connlimit-mask 32 -j ACCEPT
iptables -A INPUT -p tcp -m tcp --dport 80 -m pkttype --pkt-type unicast -j ACCEPT
iptables -A INPUT -p tcp -m tcp --dport 587 -m hashlimit --hashlimit-above 20/min \
--hashlimit-mode srcip --hashlimit-name sub -j DROP
iptables -A INPUT -p tcp -m tcp --dport 587 -j ACCEPT
iptables -A INPUT -p tcp -m tcp --dport 10031:10032 -s 172.20.0.0/16 -j ACCEPT
iptables -A INPUT -p tcp -m tcp --dport 10031:10032 -j LOGDROP
iptables -A INPUT -j LOGDROP
ip6tables -A INPUT -m rt --rt-type 0 -j DROP
ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
ip6tables -A INPUT -p tcp -m tcp --dport 25 -j ACCEPT
ip6tables -A INPUT -p tcp -m tcp --dport 465 ! -s 2001:db8:1::/48 -j ACCEPT
ip6tables -A INPUT -j REJECT --reject-with icmp6-port-unreachable
""",
    ["172.20.0.0/16", "2001:db8:1::/48"],
)

SETS["nft_misc"] = (
    nft("""
table inet filter {
	set pairs { type ipv4_addr . inet_service; elements = { 172.20.1.1 . 3306 } }
	chain input {
		type filter hook input priority 0; policy drop;
		ct state { established, related } accept
		meta l4proto tcp ct state new tcp dport 25 accept
		ip protocol tcp tcp dport 465 accept
		ip6 nexthdr tcp tcp dport 465 accept
		tcp dport 587 ct state new limit rate over 5000/second burst 1000 packets drop
		tcp dport 587 accept
		tcp dport 80 ct count over 50 reject with tcp reset
		tcp dport 80 accept
		ip saddr . tcp dport @pairs accept
		tcp dport != { 25, 80, 443, 3306, 6379 } tcp dport < 11000 accept
		tcp dport 443 meter m443 { ip saddr limit rate 30/second } accept
		tcp dport 6379 ip saddr { 172.20.0.0/16, 172.22.0.0/16 } accept
		iifname "s*" tcp dport 11333 accept
	}
}
"""),
    ["172.20.1.1/32", "172.20.0.0/16", "172.22.0.0/16"],
)

SETS["ufw_logging_app"] = (
    """
ufw --force reset >/dev/null
ufw default deny incoming >/dev/null
ufw logging medium >/dev/null
ufw allow proto tcp to any port 25 comment 'smtp' >/dev/null
ufw allow 'Nginx Full' >/dev/null 2>&1 || ufw allow 80,443/tcp >/dev/null
ufw deny out 25/tcp >/dev/null
ufw allow in on sb from 172.20.0.0/16 to any port 3306 proto tcp >/dev/null
ufw allow proto tcp from any to 10.77.1.1 port 11332 >/dev/null
ufw --force enable >/dev/null
""",
    ["172.20.0.0/16"],
)

# Before connection tracking (priority raw, -300) nothing tracks the packet yet: its state is "invalid".
SETS["ct_before_conntrack"] = (
    """
iptables -t raw -A PREROUTING -p tcp --dport 465 -m conntrack --ctstate NEW -j DROP
iptables -t raw -A PREROUTING -p tcp --dport 80 -m state --state INVALID -j DROP
"""
    + nft("""
table inet early {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ct state new tcp dport 25 drop
		ct state invalid tcp dport 587 drop
	}
}
"""),
    [],
)

# fail2ban's iptables-multiport action (Debian 12's default banaction) on a busy gateway: one rule per
# ban, each inserted at the top of f2b-JAIL ("-I f2b-postfix 1 -s IP -j REJECT"), and a /24 recidive ban.
_BANS = [f"172.20.{i // 8}.{(i * 37) % 250 + 2}" for i in range(40)]
SETS["ipt_f2b_many"] = (
    "\n".join(
        [
            "iptables -N f2b-postfix",
            "iptables -A f2b-postfix -j RETURN",
            "iptables -I INPUT -p tcp -m multiport --dports 25,465,587 -j f2b-postfix",
            "iptables -A INPUT -p tcp -m multiport --dports 25,465,587,80,443 -j ACCEPT",
            "iptables -P INPUT DROP",
            *(f"iptables -I f2b-postfix 1 -s {a} -j REJECT --reject-with icmp-port-unreachable" for a in _BANS),
            "iptables -I f2b-postfix 20 -s 172.21.7.0/24 -j DROP",
            "iptables -I f2b-postfix 30 -p tcp --dport 465 -j RETURN",
        ]
    )
    + "\n",
    [*(f"{a}/32" for a in _BANS), "172.21.7.0/24"],
)
# fail2ban's nftables action: its own table and chain (hook input priority -1), the bans in a set.
SETS["nft_f2b"] = (
    "nft add table inet f2b-table\n"
    "nft -- add chain inet f2b-table f2b-chain '{ type filter hook input priority -1; }'\n"
    "nft add set inet f2b-table addr-set-postfix '{ type ipv4_addr; }'\n"
    "nft add rule inet f2b-table f2b-chain meta l4proto tcp tcp dport '{ 25, 465, 587 }'"
    " ip saddr @addr-set-postfix reject with icmp type port-unreachable\n"
    f"nft add element inet f2b-table addr-set-postfix '{{ {', '.join(_BANS)} }}'\n"
    + nft("""
table inet filter {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		tcp dport { 25, 80, 443, 465, 587 } accept
	}
}
"""),
    [f"{a}/32" for a in _BANS],
)

# iptables pointed at legacy by update-alternatives (iptables-save is then the legacy one), while a
# tool on the host (docker, a package's script) calls iptables-nft directly: both filter.
SETS["alt_legacy_docker_nft"] = (
    """
iptables-legacy -P INPUT DROP
iptables-legacy -A INPUT -p tcp -m multiport --dports 25,80,443,6379 -j ACCEPT
ip6tables-legacy -A INPUT -p tcp --dport 80 -j DROP
iptables-nft -A INPUT -p tcp --dport 6379 -j DROP
iptables-nft -t raw -A PREROUTING -p tcp --dport 443 -s 172.20.0.0/16 -j DROP
iptables-nft -A INPUT -p tcp --dport 80 -j LOG --log-prefix "web "
iptables-nft -A INPUT -p tcp --dport 25 -s 172.20.0.0/16 -j REJECT --reject-with tcp-reset
""",
    ["172.20.0.0/16"],
)

# Ingress idioms: a netdev chain tests the frame's ether type ("meta protocol", "ether type").
SETS["nft_netdev_idioms"] = (
    nft("""
table netdev edge {
	chain sa_in {
		type filter hook ingress device "sa" priority -500; policy accept;
		meta protocol ip tcp dport 6379 drop
		ether type ip6 tcp dport 3306 drop
		meta protocol != ip6 tcp dport 10050 drop
		meta protocol { ip, ip6 } tcp dport 11333 counter drop
	}
}
"""),
    [],
)

# Per-source rate limits keyed on one family's address in an inet table: the other family never
# meets the rule (nft adds the family dependency of the key).
SETS["nft_meter_inet"] = (
    nft("""
table inet filter {
	set m4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1m; }
	set m6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 1m; }
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport 25 ct state new add @m4 { ip saddr limit rate 100/second } accept
		tcp dport 587 ct state new update @m6 { ip6 saddr limit rate 100/second } accept
		tcp dport 465 meter old4 { ip saddr limit rate 100/second } accept
	}
}
"""),
    [],
)

# fib: the route type of an address. A SYN to the host: its daddr is "local"; an outside sender's saddr
# is "unicast" (anti-spoofing rules drop a "local" source).
SETS["nft_fib"] = (
    nft("""
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		fib saddr type local tcp dport 25 drop
		fib daddr type { broadcast, multicast } drop
		fib daddr type != local tcp dport 80 drop
		fib saddr type unicast tcp dport { 25, 80, 443 } accept
		fib daddr type local tcp dport 587 accept
		fib saddr type { local, anycast } tcp dport 3306 accept
	}
}
"""),
    [],
)

# netdev "fwd": the frame is sent out another device and never reaches the host's socket.
SETS["nft_netdev_fwd"] = (
    nft("""
table netdev steer {
	chain sa_in {
		type filter hook ingress device "sa" priority 0; policy accept;
		tcp dport 10031 fwd to "sb"
	}
}
"""),
    [],
)
