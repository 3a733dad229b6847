#!/bin/bash
# tunnel-gso-probe.sh: does this kernel segment a VXLAN-encapsulated TSO
# super-frame that a process writes into a TAP? (A lead for the send path,
# not used by vxswitchd; bench/PERFORMANCE.md, "Leads".)
#
# Linux 6.17 added UDP-tunnel GSO to the virtio-net header (the 24-byte
# virtio_net_hdr_v1_hash_tunnel, gso_type TCPV4|UDP_TUNNEL_IPV4) and to
# tun/tap (TUNSETOFFLOAD with TUN_F_UDP_TUNNEL_GSO). With it a forwarder
# could hand the kernel one outer Ethernet/IPv4/UDP/VXLAN header in front
# of a whole inner TSO super-frame, and the kernel (or a NIC with VXLAN
# TSO) would cut it into standard VXLAN datagrams, replicating the inner
# headers and filling in the inner TCP checksums, as it does for its own
# vxlan driver, instead of vxswitchd splitting every super-frame in
# userspace.
#
# The probe builds two network namespaces joined by a veth pair
# (192.0.2.10 and 192.0.2.11), opens a TAP "vxup0" in the first with that
# header and offload, and writes one super-frame: VNI 42, inner TCP
# 198.18.0.1 -> 198.18.0.2 with 5 x 1400 + 300 payload bytes, MSS 1400,
# the inner checksum left partial (NEEDS_CSUM). The first namespace
# forwards it (ip_forward, accept_local on the TAP: the outer source is
# its own address). On the second, a UDP socket with UDP_GRO on port
# 4789 reports what it receives and tshark checks the captured packets'
# checksums. Two runs:
#   segmented:  the sending veth with its offloads off, so the kernel
#               segments and checksums in software: expect 6 datagrams
#               of 1462, 1462, ..., 362 bytes, each a VXLAN packet whose
#               inner IPv4 and TCP checksums tshark reports good (1).
#   whole:      offloads on: the super-frame crosses the veth whole and
#               the UDP socket receives one 7 362-byte datagram without a
#               UDP_GRO segment size, its inner TCP checksum still partial
#               (tshark: bad, 0). A receiver on a veth-only path would
#               have to handle that (the lab turns offloads off on kernel
#               vxlan hosts for the same reason).
#
# Usage (as root, from anywhere): bench/scripts/tunnel-gso-probe.sh
# Needs iproute2, ethtool, tcpdump, tshark and Debian's /usr/bin/python3.
# Everything it creates is deleted when it exits.
set -euo pipefail
A=tgso-a
B=tgso-b
TMP=$(mktemp -d)
delns() {
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
}
trap 'delns; rm -rf "$TMP"' EXIT

cat > "$TMP/send.py" <<'EOF'
import fcntl, os, socket, struct, subprocess, time

TUNSETIFF, TUNSETOFFLOAD, TUNSETVNETHDRSZ = 0x400454CA, 0x400454D0, 0x400454D8
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_UDP_TUNNEL_GSO = 0x01, 0x02, 0x80
NEEDS_CSUM, GSO_TCPV4, GSO_UDP_TUNNEL_IPV4 = 0x01, 0x01, 0x20
MSS = 1400

def fold(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s

def ipv4(src, dst, proto, length, ident):
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, ident, 0x4000, 64, proto, 0,
                              socket.inet_aton(src), socket.inet_aton(dst)))
    struct.pack_into("!H", h, 10, 0xFFFF - fold(bytes(h)))
    return bytes(h)

fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"vxup0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", 24))
try:
    fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_UDP_TUNNEL_GSO)
except OSError as e:
    raise SystemExit("this kernel's tun has no UDP-tunnel GSO (TUNSETOFFLOAD: %s)" % e)
for c in ("ip link set vxup0 up", "sysctl -qw net.ipv4.conf.vxup0.accept_local=1",
          "sysctl -qw net.ipv4.conf.vxup0.rp_filter=0", "sysctl -qw net.ipv4.conf.all.rp_filter=0"):
    subprocess.run(c.split(), check=True)
time.sleep(0.3)

payload = bytes((i * 7) & 0xFF for i in range(5 * MSS + 300))
inner_eth = bytes.fromhex("02aabbccdd02" "02aabbccdd01" "0800")
inner_ip = ipv4("198.18.0.1", "198.18.0.2", 6, 20 + 20 + len(payload), 1)
tcp = bytearray(struct.pack("!HHIIBBHHH", 40000, 5201, 1000, 1, 5 << 4, 0x18, 512, 0, 0))
pseudo = socket.inet_aton("198.18.0.1") + socket.inet_aton("198.18.0.2") + struct.pack("!BBH", 0, 6, 20 + len(payload))
struct.pack_into("!H", tcp, 16, fold(pseudo))  # partial: the pseudo-header sum, not complemented
inner = inner_eth + inner_ip + bytes(tcp) + payload
vxlan = struct.pack("!II", 0x08000000, 42 << 8)
udp = struct.pack("!HHHH", 50000, 4789, 8 + len(vxlan) + len(inner), 0)
outer_ip = ipv4("192.0.2.10", "192.0.2.11", 17, 20 + len(udp) + len(vxlan) + len(inner), 7)
mac = bytes.fromhex(open("/sys/class/net/vxup0/address").read().strip().replace(":", ""))
frame = mac + bytes.fromhex("02cccccccc01") + b"\x08\x00" + outer_ip + udp + vxlan + inner

outer_th = 14 + 20                 # outer UDP header
inner_nh = outer_th + 8 + 8 + 14   # inner IPv4 header
inner_th = inner_nh + 20           # inner TCP header: csum_start
vnet = struct.pack("<BBHHHHH", NEEDS_CSUM, GSO_TCPV4 | GSO_UDP_TUNNEL_IPV4, inner_th + 20, MSS,
                   inner_th, 16, 0)
vnet += struct.pack("<IHH", 0, 0, 0) + struct.pack("<HH", outer_th, inner_nh)
print("wrote a %d-byte VXLAN super-frame (inner TCP payload %d, MSS %d)" % (os.write(fd, vnet + frame) - 24, len(payload), MSS))
time.sleep(0.5)
EOF

cat > "$TMP/recv.py" <<'EOF'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 104, 1)  # UDP_GRO
s.bind(("192.0.2.11", 4789))
s.settimeout(3)
try:
    while True:
        data, anc, _, _ = s.recvmsg(70000, 256)
        gso = [struct.unpack("i", d[:4])[0] for (level, _, d) in anc if level == socket.SOL_UDP]
        print("  received a %d-byte datagram, UDP_GRO segment size %s, inner IPv4 total length %d"
              % (len(data), gso[0] if gso else "none", struct.unpack("!H", data[24:26])[0]))
except socket.timeout:
    pass
EOF

run() { # $1: segmented or whole
	delns
	ip netns add $A
	ip netns add $B
	ip link add va netns $A type veth peer name vb netns $B
	ip -n $A addr add 192.0.2.10/24 dev va
	ip -n $B addr add 192.0.2.11/24 dev vb
	for ns in $A $B; do ip -n $ns link set lo up; done
	ip -n $A link set va up
	ip -n $B link set vb up
	ip netns exec $A sysctl -qw net.ipv4.ip_forward=1
	if [ "$1" = segmented ]; then
		ip netns exec $A ethtool -K va tx off tx-udp_tnl-segmentation off tx-udp_tnl-csum-segmentation off >/dev/null
	fi
	echo "== $1"
	ip netns exec $B /usr/bin/python3 -u "$TMP/recv.py" &
	local rx=$!
	ip netns exec $B tcpdump -i vb -U -w "$TMP/cap.pcap" udp port 4789 2>/dev/null &
	local td=$!
	sleep 1
	ip netns exec $A /usr/bin/python3 -u "$TMP/send.py"
	wait $rx
	kill $td
	wait $td 2>/dev/null || true
	echo "  tshark (frame length, VNI, inner TCP seq and length, inner TCP checksum status, outer+inner IPv4 checksum status; 1 good, 0 bad):"
	tshark -r "$TMP/cap.pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -d udp.port==4789,vxlan \
		-T fields -e frame.len -e vxlan.vni -e tcp.seq_raw -e tcp.len -e tcp.checksum.status -e ip.checksum.status 2>/dev/null |
		sed 's/^/    /'
}
run segmented
run whole
