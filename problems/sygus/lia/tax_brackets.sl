;; Tax with brackets: nothing up to 10, 1 per unit up to 20, 2 per unit above.
;; split: heldout
;; reference: (define-fun tax ((x Int)) Int (ite (<= x 10) 0 (ite (<= x 20) (- x 10) (- (* 2 x) 30))))
(set-logic LIA)
(synth-fun tax ((x Int)) Int)
(declare-var x Int)
(constraint (=> (<= x 10) (= (tax x) 0)))
(constraint (=> (and (> x 10) (<= x 20)) (= (tax x) (- x 10))))
(constraint (=> (> x 20) (= (tax x) (+ 10 (* 2 (- x 20))))))
(check-synth)
