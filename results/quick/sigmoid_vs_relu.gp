set encoding utf8
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 800,600 noenhanced font "sans,11"
} else {
  set terminal png size 800,600 noenhanced
}
set output "results/quick/sigmoid_vs_relu.png"
set title "Test accuracy against depth (CIFAR-10, 4 epochs, QUICK: not the protocol)"
set xlabel "depth (blocks)"
set ylabel "test accuracy (%)"
set yrange [0:*]
set key outside right top
set grid ytics
set xtics (1, 2, 4, 8)
plot "results/quick/sigmoid_vs_relu.dat" index 0 using 1:2 with linespoints lw 2 pt 7 ps 1 title "Sigmoid", \
     "results/quick/sigmoid_vs_relu.dat" index 1 using 1:2 with linespoints lw 2 pt 7 ps 1 title "ReLU"
unset output
