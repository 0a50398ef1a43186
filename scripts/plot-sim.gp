# plot-sim.gp — docs/sim.png from the CSV of `offerctl simulate --csv`.
# Called by scripts/plot-sim.sh with: csv='FILE'; out='PNG'; drift=EPISODE; title='...'
set datafile separator ","
set terminal pngcairo size 1100,900 font "DejaVu Sans,11"
set output out
policies = "oracle weighted epsilon-greedy thompson ucb random"
colours = "#000000 #999999 #d95f02 #1b9e77 #7570b3 #e7298a"
set key outside right top
set grid lc rgb "#dddddd"
set multiplot layout 2,1 title title font ",13"

set title "acceptance rate per window (some offer of the slate accepted)"
set ylabel "accept rate"
set yrange [0:0.8]
set xlabel "episode"
set arrow 1 from drift, graph 0 to drift, graph 1 nohead dt 2 lc rgb "#555555"
set label 1 "drift" at drift, graph 0.95 offset 0.5,0
plot for [i=1:words(policies)] csv skip 1 \
     using 1:(strcol(2) eq word(policies, i) ? $5 : NaN) \
     with lines lw 2 lc rgb word(colours, i) title word(policies, i)

set title "cumulative regret against the oracle (expected accepts lost)"
set ylabel "regret"
set autoscale y
plot for [i=1:words(policies)] csv skip 1 \
     using 1:(strcol(2) eq word(policies, i) ? $7 : NaN) \
     with lines lw 2 lc rgb word(colours, i) title word(policies, i)
unset multiplot
