;; Sort two integers: two functions synthesised together.
;; split: train
;; reference: (define-fun lo ((x Int) (y Int)) Int (ite (<= x y) x y))
;; reference: (define-fun hi ((x Int) (y Int)) Int (ite (<= x y) y x))
(set-logic LIA)
(synth-fun lo ((x Int) (y Int)) Int)
(synth-fun hi ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (<= (lo x y) (hi x y)))
(constraint (= (+ (lo x y) (hi x y)) (+ x y)))
(constraint (or (= (lo x y) x) (= (lo x y) y)))
(check-synth)
