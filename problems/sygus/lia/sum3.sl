;; The sum of three integers, given in a rearranged form.
;; split: train
;; reference: (define-fun sum3 ((x Int) (y Int) (z Int)) Int (+ x y z))
(set-logic LIA)
(synth-fun sum3 ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (= (- (sum3 x y z) z) (+ y x)))
(check-synth)
