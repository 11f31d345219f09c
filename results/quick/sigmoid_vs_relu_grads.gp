set encoding utf8
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 800,600 noenhanced font "sans,11"
} else {
  set terminal png size 800,600 noenhanced
}
set output "results/quick/sigmoid_vs_relu_grads.png"
set title "Mean weight-gradient norm per block, depth 8 (CIFAR-10, QUICK)"
set xlabel "block (1 = next to the input)"
set ylabel "‖∂loss/∂W‖ (mean over steps)"
set logscale y 10
set format y '%g'
set key outside right top
set grid ytics
set xtics (1, 2, 3, 4, 5, 6, 7, 8)
plot "results/quick/sigmoid_vs_relu_grads.dat" index 0 using 1:2 with linespoints lw 2 pt 7 ps 1 title "Sigmoid", \
     "results/quick/sigmoid_vs_relu_grads.dat" index 1 using 1:2 with linespoints lw 2 pt 7 ps 1 title "ReLU"
unset output
