# SPDX-License-Identifier: MIT
# Throughput against offered load, one line per server and mode, from the
# throughput.dat that bench/compare-kamailio writes: one gnuplot data block
# per series, separated by two blank lines, each starting with a header line
# whose second column (quoted) is the series' title; columns: offered/s,
# answered registrations/s, failure %, p99 µs.
#
#   gnuplot -e "datafile='throughput.dat'; outfile='throughput.png'; nseries=4" bench/plot.gp

if (!exists("datafile")) datafile = "throughput.dat"
if (!exists("outfile")) outfile = "throughput.png"
if (!exists("nseries")) nseries = 4
if (!exists("subtitle")) subtitle = ""

# Tick labels. gnuplot's "%.0s%c" rounds the mantissa, so steps of 500
# came out as "500, 1k, 2k, 2k"; "%.1s%c" would print "1.0k". Instead the
# ticks are placed here, at a round step (1, 2, 2.5 or 5 times a power of
# ten, at most eight per axis), and labelled with %g and a k/M suffix: 500,
# 1k, 1.5k, 2k; 250k, 500k, 750k, 1M.
stats datafile using 1 nooutput
xmax = STATS_max > 0 ? STATS_max : 1
stats datafile using 2 nooutput
ymax = STATS_max > 0 ? STATS_max : 1
decade(r) = 10**floor(log10(r))
nice(r) = r / decade(r) <= 1 ? decade(r) : r / decade(r) <= 2 ? 2 * decade(r) : \
          r / decade(r) <= 2.5 ? 2.5 * decade(r) : r / decade(r) <= 5 ? 5 * decade(r) : \
          10 * decade(r)
kilo(v) = v >= 1e6 ? sprintf("%gM", v / 1e6) : v >= 1e3 ? sprintf("%gk", v / 1e3) : sprintf("%g", v)
xstep = nice(xmax / 8.0)
ystep = nice(ymax / 8.0)
xtop = xstep * ceil(xmax * 1.02 / xstep)
ytop = ystep * ceil(ymax * 1.02 / ystep)
set xtics ("0" 0)
set ytics ("0" 0)
do for [i=1:int(xtop / xstep + 0.5)] { set xtics add (kilo(i * xstep) i * xstep) }
do for [i=1:int(ytop / ystep + 0.5)] { set ytics add (kilo(i * ystep) i * ystep) }

set terminal pngcairo size 1000,620 font "DejaVu Sans,11"
set output outfile
set title "Registrations answered against registrations offered (UDP, loopback)\n{/*0.8 ".subtitle."}"
set xlabel "offered registrations per second (open loop)"
set ylabel "registrations answered 2xx per second"
set key top left box opaque
set grid
set xrange [0:xtop]
set yrange [0:ytop]
set style data linespoints
set pointsize 1.2

plot for [i=0:nseries-1] datafile index i using 1:2 title columnheader(2) noenhanced lw 2, \
     x title "offered = answered" dt 2 lc rgb "#999999"
