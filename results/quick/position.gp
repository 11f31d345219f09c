set encoding utf8
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 800,600 noenhanced font "sans,11"
} else {
  set terminal png size 800,600 noenhanced
}
set output "results/quick/position.png"
set title "Test accuracy by position of the normalization (CIFAR-10, 4 epochs, QUICK: not the protocol)"
set ylabel "test accuracy (%)"
set yrange [0:*]
set key off
set grid ytics
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.6 border -1
set boxwidth 0.9
set bmargin 4
set xtics nomirror ("Conv → BatchNorm → ReLU" 0, "Conv → ReLU → BatchNorm" 1, "Conv → LeakyReLU →\nBatchNorm" 2)
set xrange [-0.6:2.6]
plot "results/quick/position.dat" using 2 title "test accuracy"
unset output
