/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * seqcheck: the traffic checker that runs inside the QEMU guest of the migration rig
 * (tools/guest, test/qemu). Statically linked, no dependency but libc.
 *
 * It sends sequence-numbered raw Ethernet frames on an AF_PACKET socket (eth0, its own
 * MAC as source and destination, a local experimental EtherType) flat out or at a given
 * rate, receives what the device sends back (vstop --fwd loopback, testpmd io with
 * --port-topology=loop), and keeps, per sequence number, how often it came back.
 *
 * The sender keeps at most --window frames outstanding (sent, not yet back): flat out is
 * then lossless unless the device or the guest's driver loses frames, and a socket drop
 * in the guest (PACKET_STATISTICS, reported apart as sockdrop) cannot pass for the
 * device's loss. When the window is full and nothing has come back for --stall-ms, the
 * outstanding frames are written off for pacing only (the sender goes on; if they come
 * back late they still count as received, otherwise they are lost at the end).
 *
 * Every --report-ms it prints one line on stdout (the console, ttyS0):
 *   SEQ t=<ms> sent=<n> rcvd=<n> dup=<n> reord=<n> bad=<n> sockdrop=<n> txerr=<n>
 *       stalls=<n> maxgap_ms=<n>
 * and once the send phase (--seconds) and a drain (--drain-ms) are over:
 *   SEQ-FINAL sent=.. rcvd=.. lost=.. dup=.. reord=.. bad=.. sockdrop=.. txerr=..
 *       stalls=.. maxgap_ms=.. maxgap_at_ms=.. first_lost=.. last_lost=..
 * lost = sent - distinct sequence numbers seen; dup = frames seen more than once (extra
 * copies); reord = frames that came back after a higher number; bad = frames of our
 * EtherType whose magic, length, sequence number or checksum is wrong (corruption);
 * maxgap_ms = the longest time without a received frame during the send phase.
 *
 * Before the measured run, a warm-up sends one probe frame every 50 ms until one comes
 * back (SEQ-WARMUP): frames a device drops while its queues come up are not counted.
 *
 * Options come from argv (--seconds 20 ...) and, with --cmdline, also from
 * /proc/cmdline as vstop.<option>=<value> (vstop.seconds=20 vstop.rate=0 ...).
 * A line "stop" on stdin (the guest console) ends the send phase before --seconds: the
 * harness decides how long traffic runs (SEQ-STOP is printed, then the drain and
 * SEQ-FINAL follow).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEQ_ETHERTYPE 0x88b5 /* IEEE 802 local experimental EtherType 1 */
#define SEQ_MAGIC 0x56535451u /* "VSTQ" */
#define BURST 32
#define MAXLEN 1514

struct opts {
	char ifname[IFNAMSIZ];
	double seconds;     /* send phase */
	long rate;          /* frames/s, 0 = flat out */
	long window;        /* max outstanding frames */
	long len;           /* frame length, 60..1514 */
	long drain_ms;      /* after the send phase, receive only */
	long report_ms;     /* SEQ line period */
	long stall_ms;      /* window full, nothing back for this long: write off */
	long link_wait_ms;  /* wait for carrier */
};

struct hdr { /* after the 14-byte Ethernet header, network byte order */
	uint32_t magic;
	uint32_t run;
	uint64_t seq;
	uint64_t tx_ns;
	uint32_t len;
	uint32_t csum; /* FNV-1a over the frame from the Ethernet header on, csum = 0 */
} __attribute__((packed));

static struct opts o = {
	.ifname = "eth0", .seconds = 20, .rate = 0, .window = 128, .len = 128,
	.drain_ms = 2000, .report_ms = 200, .stall_ms = 1000, .link_wait_ms = 10000,
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t hton64(uint64_t v)
{
	return ((uint64_t)htonl((uint32_t)v) << 32) | htonl((uint32_t)(v >> 32));
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int set_opt(const char *k, const char *v)
{
	char *end;
	if (!strcmp(k, "ifname")) {
		snprintf(o.ifname, sizeof(o.ifname), "%s", v);
		return 0;
	}
	if (!strcmp(k, "seconds")) {
		o.seconds = strtod(v, &end);
		return *end || o.seconds <= 0 ? -1 : 0;
	}
	long n = strtol(v, &end, 0);
	if (*end || n < 0)
		return -1;
	if (!strcmp(k, "rate"))
		o.rate = n;
	else if (!strcmp(k, "window"))
		o.window = n;
	else if (!strcmp(k, "len"))
		o.len = n;
	else if (!strcmp(k, "drain_ms") || !strcmp(k, "drain-ms"))
		o.drain_ms = n;
	else if (!strcmp(k, "report_ms") || !strcmp(k, "report-ms"))
		o.report_ms = n;
	else if (!strcmp(k, "stall_ms") || !strcmp(k, "stall-ms"))
		o.stall_ms = n;
	else if (!strcmp(k, "link_wait_ms") || !strcmp(k, "link-wait-ms"))
		o.link_wait_ms = n;
	else
		return -1;
	return 0;
}

static void read_cmdline(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/cmdline", "r");
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	for (char *save, *tok = strtok_r(buf, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(tok, "vstop.", 6))
			continue;
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = 0;
		if (set_opt(tok + 6, eq + 1))
			printf("SEQ-WARN unknown or bad kernel parameter vstop.%s=%s\n", tok + 6,
			       eq + 1);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: seqcheck [--cmdline] [--ifname IF] [--seconds S] [--rate N]\n"
			"  [--window N] [--len N] [--drain-ms N] [--report-ms N] [--stall-ms N]\n"
			"  [--link-wait-ms N]   (kernel parameters vstop.<name>=<value> with "
			"--cmdline)\n");
	exit(2);
}

/* Per sequence number: how often it came back (saturating). Grows as we send. */
static uint8_t *seen;
static uint64_t seen_cap;

static void seen_grow(uint64_t need)
{
	if (need <= seen_cap)
		return;
	uint64_t cap = seen_cap ? seen_cap : 1 << 20;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(seen, cap);
	if (!p) {
		printf("SEQ-ERROR out of memory for %llu sequence numbers\n",
		       (unsigned long long)cap);
		exit(1);
	}
	memset(p + seen_cap, 0, cap - seen_cap);
	seen = p;
	seen_cap = cap;
}

struct counters {
	uint64_t sent, rcvd, dup, reord, bad, foreign, sockdrop, txerr, stalls;
	uint64_t maxgap_ns, maxgap_at_ns;
	uint64_t written_off; /* for pacing only */
	int64_t max_seq;
};

static struct counters c = { .max_seq = -1 };

static void build_frame(uint8_t *f, const uint8_t *mac, uint32_t run, uint64_t seq,
			uint64_t t)
{
	struct ether_header *eh = (struct ether_header *)f;
	memcpy(eh->ether_dhost, mac, 6);
	memcpy(eh->ether_shost, mac, 6);
	eh->ether_type = htons(SEQ_ETHERTYPE);
	struct hdr *h = (struct hdr *)(f + sizeof(*eh));
	h->magic = htonl(SEQ_MAGIC);
	h->run = htonl(run);
	h->seq = hton64(seq);
	h->tx_ns = hton64(t);
	h->len = htonl((uint32_t)o.len);
	h->csum = 0;
	uint8_t *p = f + sizeof(*eh) + sizeof(*h);
	size_t n = (size_t)o.len - sizeof(*eh) - sizeof(*h);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seq * 131 + i);
	h->csum = htonl(fnv1a(f, (size_t)o.len));
}

/* A received frame: count it. Returns 1 if it was one of ours and good. */
static int check_frame(uint8_t *f, ssize_t n, uint32_t run, uint64_t t, uint64_t *last_rx,
		       uint64_t t0, int sending)
{
	struct ether_header *eh = (struct ether_header *)f;
	struct hdr *h = (struct hdr *)(f + sizeof(*eh));
	if (n < (ssize_t)(sizeof(*eh) + sizeof(*h)) || ntohs(eh->ether_type) != SEQ_ETHERTYPE) {
		c.bad++;
		return 0;
	}
	if (ntohl(h->magic) != SEQ_MAGIC || ntohl(h->len) != (uint32_t)n ||
	    n != o.len) {
		c.bad++;
		return 0;
	}
	if (ntohl(h->run) != run) {
		c.foreign++;
		return 0;
	}
	uint32_t csum = ntohl(h->csum);
	h->csum = 0;
	if (fnv1a(f, (size_t)n) != csum) {
		c.bad++;
		return 0;
	}
	uint64_t seq = hton64(h->seq);
	if (seq >= c.sent) {
		c.bad++;
		return 0;
	}
	if (sending && *last_rx && t - *last_rx > c.maxgap_ns) {
		c.maxgap_ns = t - *last_rx;
		c.maxgap_at_ns = *last_rx - t0;
	}
	*last_rx = t;
	if (seen[seq] == 0) {
		c.rcvd++;
		if ((int64_t)seq < c.max_seq)
			c.reord++;
		else
			c.max_seq = (int64_t)seq;
	} else {
		c.dup++;
	}
	if (seen[seq] < 255)
		seen[seq]++;
	return 1;
}

static void sock_stats(int fd)
{
	struct tpacket_stats st;
	socklen_t l = sizeof(st);
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) == 0)
		c.sockdrop += st.tp_drops; /* reading resets them */
}

/* A line "stop" on stdin (the console: the harness writes it into the serial port) ends
 * the send phase early. Checked once per report period. */
static int stdin_says_stop(void)
{
	static char line[64];
	static size_t n;
	struct pollfd p = { .fd = 0, .events = POLLIN };
	while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
		char ch;
		if (read(0, &ch, 1) != 1)
			return 0;
		if (ch == '\n' || ch == '\r') {
			line[n] = 0;
			n = 0;
			if (!strcmp(line, "stop"))
				return 1;
		} else if (n < sizeof(line) - 1) {
			line[n++] = ch;
		}
	}
	return 0;
}

static void report(uint64_t t_ms)
{
	printf("SEQ t=%llu sent=%llu rcvd=%llu dup=%llu reord=%llu bad=%llu sockdrop=%llu "
	       "txerr=%llu stalls=%llu maxgap_ms=%llu\n",
	       (unsigned long long)t_ms, (unsigned long long)c.sent,
	       (unsigned long long)c.rcvd, (unsigned long long)c.dup,
	       (unsigned long long)c.reord, (unsigned long long)c.bad,
	       (unsigned long long)c.sockdrop, (unsigned long long)c.txerr,
	       (unsigned long long)c.stalls, (unsigned long long)(c.maxgap_ns / 1000000));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cmdline")) {
			read_cmdline();
			continue;
		}
		if (strncmp(argv[i], "--", 2) || i + 1 >= argc)
			usage();
		if (set_opt(argv[i] + 2, argv[i + 1]))
			usage();
		i++;
	}
	if (o.len < 60 || o.len > MAXLEN || o.len < (long)(14 + sizeof(struct hdr)) ||
	    o.window < 1) {
		printf("SEQ-ERROR bad options (len 60..1514, window >= 1)\n");
		return 2;
	}

	int fd = socket(AF_PACKET, SOCK_RAW, htons(SEQ_ETHERTYPE));
	if (fd < 0) {
		printf("SEQ-ERROR socket: %s\n", strerror(errno));
		return 1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o.ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		printf("SEQ-ERROR no interface %s: %s\n", o.ifname, strerror(errno));
		return 1;
	}
	int ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		printf("SEQ-ERROR SIOCGIFHWADDR: %s\n", strerror(errno));
		return 1;
	}
	uint8_t mac[6];
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);

	/* Wait for the carrier (IFF_RUNNING). */
	uint64_t tw = now_ns();
	for (;;) {
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) &&
		    (ifr.ifr_flags & IFF_RUNNING))
			break;
		if (now_ns() - tw > (uint64_t)o.link_wait_ms * 1000000) {
			printf("SEQ-ERROR %s has no carrier after %ld ms\n", o.ifname,
			       o.link_wait_ms);
			return 1;
		}
		usleep(10000);
	}

	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(SEQ_ETHERTYPE);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		printf("SEQ-ERROR bind: %s\n", strerror(errno));
		return 1;
	}
	int rcvbuf = 16 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sock_stats(fd); /* start from zero */

	uint32_t run = (uint32_t)(now_ns() ^ ((uint64_t)getpid() << 16));
	seen_grow(1 << 20);

	static uint8_t txf[BURST][MAXLEN], rxf[BURST][MAXLEN + 64];
	struct mmsghdr txm[BURST], rxm[BURST];
	struct iovec txv[BURST], rxv[BURST];
	struct sockaddr_ll rxa[BURST];
	memset(txm, 0, sizeof(txm));
	memset(rxm, 0, sizeof(rxm));
	for (int i = 0; i < BURST; i++) {
		txv[i].iov_base = txf[i];
		txv[i].iov_len = (size_t)o.len;
		txm[i].msg_hdr.msg_iov = &txv[i];
		txm[i].msg_hdr.msg_iovlen = 1;
		txm[i].msg_hdr.msg_name = &sll;
		txm[i].msg_hdr.msg_namelen = sizeof(sll);
		rxv[i].iov_base = rxf[i];
		rxv[i].iov_len = sizeof(rxf[i]);
		rxm[i].msg_hdr.msg_iov = &rxv[i];
		rxm[i].msg_hdr.msg_iovlen = 1;
		rxm[i].msg_hdr.msg_name = &rxa[i];
		rxm[i].msg_hdr.msg_namelen = sizeof(rxa[i]);
	}

	/* Warm-up: a device may drop the first frames after the link comes up (its queues
	 * not yet ready). Send one probe frame (of another run id, so it never counts) every
	 * 50 ms until one comes back; only then does the measured run start. */
	{
		uint32_t probe_run = ~run;
		uint64_t tp = now_ns();
		long probes = 0;
		int back = 0;
		while (!back) {
			if (now_ns() - tp > (uint64_t)o.link_wait_ms * 1000000) {
				printf("SEQ-ERROR no probe frame came back in %ld ms (%ld sent)\n",
				       o.link_wait_ms, probes);
				return 1;
			}
			build_frame(txf[0], mac, probe_run, 0, now_ns());
			if (sendto(fd, txf[0], (size_t)o.len, 0, (struct sockaddr *)&sll,
				   sizeof(sll)) == o.len)
				probes++;
			uint64_t tq = now_ns();
			while (!back && now_ns() - tq < 50000000ull) {
				struct pollfd p = { .fd = fd, .events = POLLIN };
				if (poll(&p, 1, 10) != 1)
					continue;
				ssize_t n = recv(fd, rxf[0], sizeof(rxf[0]), MSG_DONTWAIT);
				struct hdr *h = (struct hdr *)(rxf[0] + sizeof(struct ether_header));
				if (n == o.len && ntohl(h->magic) == SEQ_MAGIC &&
				    ntohl(h->run) == probe_run)
					back = 1;
			}
		}
		printf("SEQ-WARMUP probes=%ld ms=%llu\n", probes,
		       (unsigned long long)((now_ns() - tp) / 1000000));
	}

	printf("SEQ-START if=%s mac=%02x:%02x:%02x:%02x:%02x:%02x run=%08x len=%ld window=%ld "
	       "rate=%ld seconds=%g drain_ms=%ld\n",
	       o.ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], run, o.len, o.window,
	       o.rate, o.seconds, o.drain_ms);

	const uint64_t t0 = now_ns();
	uint64_t send_end = t0 + (uint64_t)(o.seconds * 1e9);
	uint64_t drain_end = send_end + (uint64_t)o.drain_ms * 1000000;
	uint64_t next_report = t0 + (uint64_t)o.report_ms * 1000000;
	uint64_t last_rx = 0, last_progress = t0;
	long idle_polls = 0;
	int sending = 1;

	for (;;) {
		uint64_t t = now_ns();
		if (sending && t >= send_end) {
			sending = 0;
			/* The tail of the send phase without a frame counts as a gap too. */
			uint64_t from = last_rx ? last_rx : t0;
			if (t - from > c.maxgap_ns && c.sent > c.rcvd) {
				c.maxgap_ns = t - from;
				c.maxgap_at_ns = from - t0;
			}
		}
		if (!sending && (t >= drain_end || c.rcvd >= c.sent))
			break;
		if (t >= next_report) {
			sock_stats(fd);
			report((t - t0) / 1000000);
			if (sending && stdin_says_stop()) {
				printf("SEQ-STOP t=%llu (stop on the console)\n",
				       (unsigned long long)((t - t0) / 1000000));
				send_end = t; /* the loop ends the send phase next */
				drain_end = t + (uint64_t)o.drain_ms * 1000000;
			}
			next_report += (uint64_t)o.report_ms * 1000000;
			if (next_report < t)
				next_report = t + (uint64_t)o.report_ms * 1000000;
		}

		/* Receive what is there. */
		int got = 0;
		for (;;) {
			int n = recvmmsg(fd, rxm, BURST, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			uint64_t tr = now_ns();
			for (int i = 0; i < n; i++) {
				if (rxa[i].sll_pkttype == PACKET_OUTGOING)
					continue;
				got += check_frame(rxf[i], (ssize_t)rxm[i].msg_len, run, tr,
						   &last_rx, t0, sending);
				rxm[i].msg_hdr.msg_namelen = sizeof(rxa[i]);
			}
			if (n < BURST)
				break;
		}
		if (got) {
			last_progress = now_ns();
			idle_polls = 0;
			if (c.written_off > 0) { /* late frames come back: pace on them again */
				uint64_t out = c.sent - c.rcvd;
				if (c.written_off > out)
					c.written_off = out;
			}
		}

		/* Send what the window and the rate allow. */
		int64_t room = 0;
		if (sending) {
			int64_t out = (int64_t)(c.sent - c.rcvd - c.written_off);
			room = o.window - (out < 0 ? 0 : out);
			if (o.rate > 0) {
				int64_t allowed = (int64_t)((double)(now_ns() - t0) * o.rate / 1e9) -
						  (int64_t)c.sent;
				if (allowed < room)
					room = allowed;
			}
			if (room > BURST)
				room = BURST;
			/* idle_polls: 1 ms waits since the last progress. Under TCG on a loaded
			 * host the whole vCPU may not run for seconds while the guest clock goes
			 * on: only a stall we actually waited through writes frames off. */
			if (room <= 0 && o.window - out <= 0 && idle_polls >= o.stall_ms &&
			    now_ns() - last_progress > (uint64_t)o.stall_ms * 1000000) {
				/* Nothing back for stall_ms with the window full: go on. */
				c.written_off = c.sent - c.rcvd;
				c.stalls++;
				last_progress = now_ns();
				idle_polls = 0;
				continue;
			}
		}
		if (room > 0) {
			seen_grow(c.sent + (uint64_t)room + 1);
			uint64_t ts = now_ns();
			for (int i = 0; i < room; i++)
				build_frame(txf[i], mac, run, c.sent + (uint64_t)i, ts);
			int n = sendmmsg(fd, txm, (unsigned)room, MSG_DONTWAIT);
			if (n > 0) {
				/* Frames [n, room) were not sent: their numbers are used again. */
				c.sent += (uint64_t)n;
			} else {
				c.txerr++;
				struct pollfd p = { .fd = fd, .events = POLLIN };
				poll(&p, 1, 1);
			}
			if (n == room)
				continue;
		}
		if (!got) {
			/* Nothing to send now: wait for frames (or the next send slot). */
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, 1);
			idle_polls++;
		}
	}

	sock_stats(fd);
	uint64_t t = now_ns();
	report((t - t0) / 1000000);
	uint64_t lost = 0, first_lost = 0, last_lost = 0;
	for (uint64_t s = 0; s < c.sent; s++) {
		if (!seen[s]) {
			if (!lost)
				first_lost = s;
			last_lost = s;
			lost++;
		}
	}
	printf("SEQ-FINAL sent=%llu rcvd=%llu lost=%llu dup=%llu reord=%llu bad=%llu "
	       "foreign=%llu sockdrop=%llu txerr=%llu stalls=%llu maxgap_ms=%llu "
	       "maxgap_at_ms=%llu first_lost=%lld last_lost=%lld\n",
	       (unsigned long long)c.sent, (unsigned long long)c.rcvd,
	       (unsigned long long)lost, (unsigned long long)c.dup,
	       (unsigned long long)c.reord, (unsigned long long)c.bad,
	       (unsigned long long)c.foreign, (unsigned long long)c.sockdrop,
	       (unsigned long long)c.txerr, (unsigned long long)c.stalls,
	       (unsigned long long)(c.maxgap_ns / 1000000),
	       (unsigned long long)(c.maxgap_at_ns / 1000000),
	       lost ? (long long)first_lost : -1LL, lost ? (long long)last_lost : -1LL);
	fflush(stdout);
	close(fd);
	return lost || c.dup || c.bad ? 1 : 0;
}
