set encoding utf8
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 800,600 noenhanced font "sans,11"
} else {
  set terminal png size 800,600 noenhanced
}
set output "results/quick/bn_vs_gn-dataset-cifar10.png"
set title "Test accuracy against batch size (CIFAR-10, 3 epochs, QUICK: not the protocol)"
set xlabel "batch size"
set ylabel "test accuracy (%)"
set yrange [0:*]
set key outside right top
set grid ytics
set logscale x 2
set format x '%g'
set xrange [6.4:160]
set xtics (8, 32, 128)
plot "results/quick/bn_vs_gn-dataset-cifar10.dat" index 0 using 1:2 with linespoints lw 2 pt 7 ps 1 title "BatchNorm", \
     "results/quick/bn_vs_gn-dataset-cifar10.dat" index 1 using 1:2 with linespoints lw 2 pt 7 ps 1 title "GroupNorm"
unset output
