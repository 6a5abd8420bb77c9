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

set terminal pngcairo size 1000,620 font "DejaVu Sans,11"
set output outfile
set title "Registrations answered against registrations offered (UDP, loopback)\n{/*0.8 ".subtitle."}"
set xlabel "offered registrations per second (open loop)"
set ylabel "registrations answered 2xx per second"
set key top left box opaque
set grid
set format x "%.0s%c"
set format y "%.0s%c"
set xrange [0:*]
set yrange [0:*]
set style data linespoints
set pointsize 1.2

plot for [i=0:nseries-1] datafile index i using 1:2 title columnheader(2) noenhanced lw 2, \
     x title "offered = answered" dt 2 lc rgb "#999999"
