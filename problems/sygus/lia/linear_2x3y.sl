;; A linear function given in a rearranged form.
;; split: train
;; reference: (define-fun f ((x Int) (y Int)) Int (+ (* 2 x) (* 3 y) (- 1)))
(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (= (- (f x y) (* 3 y)) (- (* 2 x) 1)))
(check-synth)
