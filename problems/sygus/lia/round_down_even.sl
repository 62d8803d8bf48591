;; The largest even integer not above x.
;; split: train
;; reference: (define-fun rde ((x Int)) Int (- x (mod x 2)))
(set-logic LIA)
(synth-fun rde ((x Int)) Int)
(declare-var x Int)
(constraint (= (mod (rde x) 2) 0))
(constraint (<= (rde x) x))
(constraint (> (+ (rde x) 2) x))
(check-synth)
